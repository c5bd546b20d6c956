"""Short-lived locks in DynamoDB: one holder at a time, and a crashed holder's lock expires.

A lock is an item ``{lockId, owner, expiresAt}`` written with a condition that no unexpired item
exists. The table's TTL attribute cleans up old items; the condition makes expiry exact.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from opsfn.core.access import allow
from opsfn.core.access import table as table_named
from opsfn.errors import Conflict
from opsfn.services import aws
from opsfn.services.settings import SharedSettings

ACCESS = (allow("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem",
                on=table_named("LOCK_TABLE")),)
"""What taking and releasing locks needs: list it in the ``access=`` of a route that locks."""


@dataclass(frozen=True, slots=True)
class Lock:
    """A held lock; pass it back to :func:`release`."""

    table: str
    lock_id: str
    owner: str
    expires_at: int


def acquire(lock_id: str, ttl_s: int, *, table: str | None = None, now: float | None = None) -> Lock:
    """Take ``lock_id`` for ``ttl_s`` seconds or raise :class:`Conflict` if someone holds it."""
    table = table or SharedSettings.current().required("LOCK_TABLE")
    current = int(now if now is not None else time.time())
    owner = uuid.uuid4().hex
    expires_at = current + ttl_s
    client = aws.client("dynamodb")
    try:
        client.put_item(
            TableName=table,
            Item={"lockId": {"S": lock_id}, "owner": {"S": owner},
                  "expiresAt": {"N": str(expires_at)}},
            ConditionExpression="attribute_not_exists(lockId) OR expiresAt < :now",
            ExpressionAttributeValues={":now": {"N": str(current)}},
        )
    except client.exceptions.ConditionalCheckFailedException:
        raise Conflict("the operation is already in progress") from None
    return Lock(table, lock_id, owner, expires_at)


def release(lock: Lock) -> None:
    """Give the lock back if we still hold it (an expired-and-retaken lock is left alone)."""
    client = aws.client("dynamodb")
    try:
        client.delete_item(
            TableName=lock.table,
            Key={"lockId": {"S": lock.lock_id}},
            ConditionExpression="#o = :owner",
            ExpressionAttributeNames={"#o": "owner"},
            ExpressionAttributeValues={":owner": {"S": lock.owner}},
        )
    except client.exceptions.ConditionalCheckFailedException:
        pass


def holder_expiry(lock_id: str, *, table: str | None = None) -> int | None:
    """When the current holder's lock expires (epoch seconds), or None if nobody holds it."""
    table = table or SharedSettings.current().required("LOCK_TABLE")
    item = aws.client("dynamodb").get_item(
        TableName=table, Key={"lockId": {"S": lock_id}}, ConsistentRead=True
    ).get("Item")
    if not item:
        return None
    expires_at = int(item["expiresAt"]["N"])
    return expires_at if expires_at >= int(time.time()) else None


def remember(record_id: str, value: str, ttl_s: int, *, table: str | None = None) -> str:
    """Store ``value`` under ``record_id`` unless a live record holds one; returns the value kept.

    The first writer wins, so concurrent copies of one request all answer with the same value.
    """
    table = table or SharedSettings.current().required("LOCK_TABLE")
    current = int(time.time())
    client = aws.client("dynamodb")
    try:
        client.put_item(
            TableName=table,
            Item={"lockId": {"S": record_id}, "owner": {"S": "record"}, "value": {"S": value},
                  "expiresAt": {"N": str(current + ttl_s)}},
            ConditionExpression="attribute_not_exists(lockId) OR expiresAt < :now",
            ExpressionAttributeValues={":now": {"N": str(current)}},
        )
    except client.exceptions.ConditionalCheckFailedException:
        kept = recall(record_id, table=table)
        if kept is not None:
            return kept
        raise Conflict("the record is being replaced; try again") from None
    return value


def recall(record_id: str, *, table: str | None = None) -> str | None:
    """The value a live :func:`remember` record holds, or None."""
    table = table or SharedSettings.current().required("LOCK_TABLE")
    item = aws.client("dynamodb").get_item(
        TableName=table, Key={"lockId": {"S": record_id}}, ConsistentRead=True
    ).get("Item")
    if not item or "value" not in item or int(item["expiresAt"]["N"]) < int(time.time()):
        return None
    return str(item["value"]["S"])
