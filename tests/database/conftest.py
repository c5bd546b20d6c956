"""Fixtures of the database tests: an app with only the database routes, the instance in moto,
and the shared moto fixtures."""

from __future__ import annotations

import pytest

from opsfn.core.app import App
from opsfn.routes import database
from opsfn.services import aws
from tests.operator_fixtures import client, tables  # noqa: F401 - fixtures


@pytest.fixture
def db(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The dashboard's instance in moto, named by DB_INSTANCE_ID (with the shared tables)."""
    request.getfixturevalue("tables")
    aws.client("rds").create_db_instance(
        DBInstanceIdentifier="dash-db", DBInstanceClass="db.t3.micro", Engine="postgres",
        MasterUsername="admin", MasterUserPassword="password123", AllocatedStorage=20)
    monkeypatch.setenv("DB_INSTANCE_ID", "dash-db")
    return "dash-db"


@pytest.fixture
def app() -> App:
    return App([database.router])
