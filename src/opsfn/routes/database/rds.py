"""The configured database, RDS instance or Aurora cluster, behind one small interface."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from opsfn.aws_errors import kind_of
from opsfn.errors import InvalidSetting, MissingSetting
from opsfn.routes.database.settings import DatabaseSettings
from opsfn.services import aws


class WrongState(Exception):
    """RDS refused because the database is not in a state that allows the call."""


@dataclass(frozen=True, slots=True)
class Database:
    """Which database and of what kind."""

    kind: Literal["instance", "cluster"]
    identifier: str


def configured() -> Database:
    """DB_INSTANCE_ID or DB_CLUSTER_ID (exactly one)."""
    settings = DatabaseSettings.current()
    if settings.db_instance_id and settings.db_cluster_id:
        raise InvalidSetting(["DB_CLUSTER_ID", "DB_INSTANCE_ID"])
    if settings.db_cluster_id:
        return Database("cluster", settings.db_cluster_id)
    if settings.db_instance_id:
        return Database("instance", settings.db_instance_id)
    raise MissingSetting("DB_INSTANCE_ID")


def status(db: Database) -> str:
    """The RDS status string (``stopped``, ``starting``, ``available``, ...)."""
    client = aws.client("rds")
    if db.kind == "cluster":
        cluster = client.describe_db_clusters(DBClusterIdentifier=db.identifier)["DBClusters"][0]
        return str(cluster["Status"])
    instance = client.describe_db_instances(DBInstanceIdentifier=db.identifier)["DBInstances"][0]
    return str(instance["DBInstanceStatus"])


def _call(db: Database, verb: Literal["start", "stop"]) -> None:
    client = aws.client("rds")
    try:
        if db.kind == "cluster" and verb == "start":
            client.start_db_cluster(DBClusterIdentifier=db.identifier)
        elif db.kind == "cluster":
            client.stop_db_cluster(DBClusterIdentifier=db.identifier)
        elif verb == "start":
            client.start_db_instance(DBInstanceIdentifier=db.identifier)
        else:
            client.stop_db_instance(DBInstanceIdentifier=db.identifier)
    except client.exceptions.ClientError as exc:
        if kind_of(exc) == "conflict":  # RDS's Invalid...State: not now, in this state
            raise WrongState(verb) from None
        raise


def start(db: Database) -> None:
    """Start it; :class:`WrongState` when RDS says it cannot start now."""
    _call(db, "start")


def stop(db: Database) -> None:
    """Stop it; :class:`WrongState` when RDS says it cannot stop now."""
    _call(db, "stop")
