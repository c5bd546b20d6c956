"""The database's lifecycle record: last activity, start time, first time seen up, last stop.

One item in LOCK_TABLE (``lockId`` = ``state#database#<kind>#<id>``) so no extra table is needed;
its ``expiresAt`` lies far ahead, so the lock condition never applies to it and TTL only removes
records of databases nobody touched for 90 days. Activity only ever moves forward (a conditional
update), so late or duplicated activity reports are harmless.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from opsfn.routes.database.state import iso
from opsfn.services import aws
from opsfn.services.settings import SharedSettings

RETENTION_S = 90 * 86_400


@dataclass(frozen=True, slots=True)
class DbState:
    """What we know about the database's use; None where nothing was recorded."""

    last_activity: datetime | None = None
    started_at: datetime | None = None
    observed_at: datetime | None = None
    stopped_at: datetime | None = None
    restart_id: str | None = None


def state_key(kind: str, identifier: str) -> str:
    """The item key of one database's record."""
    return f"state#database#{kind}#{identifier}"


def _table() -> str:
    return SharedSettings.current().required("LOCK_TABLE")


def _moment(item: dict[str, Any], name: str) -> datetime | None:
    value = item.get(name, {}).get("N")
    return datetime.fromtimestamp(float(value), UTC) if value is not None else None


def get_state(key: str) -> DbState:
    """The stored record (consistent read), empty when there is none."""
    item = aws.client("dynamodb").get_item(TableName=_table(), Key={"lockId": {"S": key}},
                                           ConsistentRead=True).get("Item") or {}
    restart = item.get("restartId", {}).get("S")
    return DbState(_moment(item, "lastActivity"), _moment(item, "startedAt"),
                   _moment(item, "observedAt"), _moment(item, "stoppedAt"), restart)


def _expiry() -> dict[str, str]:
    return {"N": str(int(time.time()) + RETENTION_S)}


def _num(moment: datetime) -> dict[str, str]:
    return {"N": f"{moment.timestamp():.3f}"}


def record_activity(key: str, at: datetime) -> bool:
    """Move the last activity forward to ``at``; False when a later one is already stored."""
    client = aws.client("dynamodb")
    try:
        client.update_item(
            TableName=_table(), Key={"lockId": {"S": key}},
            UpdateExpression="SET lastActivity = :t, lastActivityAt = :iso, expiresAt = :exp",
            ConditionExpression="attribute_not_exists(lastActivity) OR lastActivity < :t",
            ExpressionAttributeValues={":t": _num(at), ":iso": {"S": iso(at)}, ":exp": _expiry()},
        )
    except client.exceptions.ConditionalCheckFailedException:
        return False
    return True


def mark_started(key: str, at: datetime, restart_id: str) -> None:
    """Record a start we made; the start also counts as activity."""
    aws.client("dynamodb").update_item(
        TableName=_table(), Key={"lockId": {"S": key}},
        UpdateExpression="SET startedAt = :t, startedAtIso = :iso, restartId = :r, expiresAt = :exp "
                         "REMOVE observedAt, stoppedAt",
        ExpressionAttributeValues={":t": _num(at), ":iso": {"S": iso(at)},
                                   ":r": {"S": restart_id}, ":exp": _expiry()},
    )
    record_activity(key, at)


def mark_observed(key: str, at: datetime) -> datetime:
    """Note when the database was first seen up without a start of ours; returns the note."""
    client = aws.client("dynamodb")
    try:
        client.update_item(
            TableName=_table(), Key={"lockId": {"S": key}},
            UpdateExpression="SET observedAt = :t, expiresAt = :exp",
            ConditionExpression="attribute_not_exists(observedAt) AND attribute_not_exists(startedAt)",
            ExpressionAttributeValues={":t": _num(at), ":exp": _expiry()},
        )
    except client.exceptions.ConditionalCheckFailedException:
        state = get_state(key)
        return state.started_at or state.observed_at or at
    return at


def mark_stopped(key: str, at: datetime) -> None:
    """Forget the start: the next time it is up (RDS restarts it after 7 days) counts anew."""
    aws.client("dynamodb").update_item(
        TableName=_table(), Key={"lockId": {"S": key}},
        UpdateExpression="SET stoppedAt = :t, expiresAt = :exp REMOVE startedAt, startedAtIso, "
                         "observedAt",
        ExpressionAttributeValues={":t": _num(at), ":exp": _expiry()},
    )


def clear_lock(lock_id: str) -> None:
    """Drop a start lock once the database is stopped again (a new start may begin at once)."""
    aws.client("dynamodb").delete_item(TableName=_table(), Key={"lockId": {"S": lock_id}})
