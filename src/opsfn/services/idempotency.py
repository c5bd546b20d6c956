"""Do a piece of work once per key, however often its delivery repeats, and never lose it.

One item per key in IDEMPOTENCY_TABLE (partition key ``id``, TTL attribute ``expiration``):

* **in flight** (``status INPROGRESS``): taken before the work starts and valid only until the
  invocation's deadline plus a margin (:func:`in_flight_seconds`). A copy that arrives meanwhile
  gets :class:`~opsfn.errors.Conflict`, which is retryable, never "done": if the first invocation
  is then killed (timeout, out of memory) its marker ends with it and the retry does the work.
* **completed** (``status COMPLETED``): the work's JSON result, kept for ``done_s``; every copy
  that arrives within that window gets the same result back without acting.
* **failed**: when the work raises, the marker is deleted and the error raised again, so the
  retry acts at once.

Results must be small JSON objects (a DynamoDB item holds at most 400 KB). ``fingerprint`` guards a
key against reuse with other inputs (an incident id sent again for another target).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from opsfn.aws_errors import error_code, kind_of
from opsfn.core.access import allow
from opsfn.core.access import table as table_named
from opsfn.core.observability import get_logger
from opsfn.errors import Conflict, UpstreamError
from opsfn.services import aws
from opsfn.services.settings import SharedSettings

ACCESS = (allow("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem",
                "dynamodb:DeleteItem", on=table_named("IDEMPOTENCY_TABLE")),)
"""What :func:`run_once` needs: list it in the ``access=`` of a route that uses it."""

IN_PROGRESS = "INPROGRESS"
COMPLETED = "COMPLETED"
MARGIN_S = 30.0


class HasDeadline(Protocol):
    """What :func:`in_flight_seconds` needs from an invocation."""

    def remaining_ms(self) -> int: ...


class Mismatch(Exception):
    """The key was first used with another fingerprint."""


@dataclass(frozen=True, slots=True)
class Once:
    """The work's result; ``replayed`` when it came from an earlier delivery."""

    result: dict[str, Any]
    replayed: bool


def in_flight_seconds(invocation: HasDeadline, margin_s: float = MARGIN_S) -> float:
    """How long an in-flight marker lives: what is left of the invocation, plus ``margin_s``."""
    return max(1.0, invocation.remaining_ms() / 1000) + margin_s


def _store_error(exc: BaseException) -> UpstreamError:
    return UpstreamError(f"idempotency store failed: {error_code(exc) or type(exc).__name__}")


def _is_store_failure(exc: BaseException) -> bool:
    return error_code(exc) is not None or type(exc).__module__.startswith(("botocore", "urllib3"))


def _claim(table: str, key: str, owner: str, in_flight_s: float,
           fingerprint: str) -> dict[str, Any] | None:
    """Take the key; None when taken, else the live item that holds it."""
    now = time.time()
    client = aws.client("dynamodb")
    try:
        client.put_item(
            TableName=table,
            Item={"id": {"S": key}, "status": {"S": IN_PROGRESS}, "owner": {"S": owner},
                  "fingerprint": {"S": fingerprint},
                  "expiration": {"N": str(int(now + in_flight_s))}},
            ConditionExpression="attribute_not_exists(id) OR expiration < :now",
            ExpressionAttributeValues={":now": {"N": str(int(now))}},
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except Exception as exc:
        if kind_of(exc) != "condition_failed":
            raise
        held = getattr(exc, "response", {}).get("Item")
        if held is None:  # older emulators do not return the item: read it
            held = client.get_item(TableName=table, Key={"id": {"S": key}},
                                   ConsistentRead=True).get("Item")
        return dict(held) if held else {"status": {"S": IN_PROGRESS}}
    return None


def _complete(table: str, key: str, owner: str, result: dict[str, Any], done_s: int) -> None:
    """Keep the result for ``done_s``; a marker someone else took over is left to them."""
    client = aws.client("dynamodb")
    try:
        client.update_item(
            TableName=table, Key={"id": {"S": key}},
            UpdateExpression="SET #s = :done, #d = :data, expiration = :exp",
            ConditionExpression="#o = :owner",
            ExpressionAttributeNames={"#s": "status", "#d": "data", "#o": "owner"},
            ExpressionAttributeValues={
                ":done": {"S": COMPLETED}, ":owner": {"S": owner},
                ":data": {"S": json.dumps(result, default=str, separators=(",", ":"))},
                ":exp": {"N": str(int(time.time() + done_s))}},
        )
    except Exception as exc:  # noqa: BLE001 - the work is done; say so rather than fail it
        get_logger().error("idempotency record of completed work not written", extra={
            "error": error_code(exc) or type(exc).__name__})


def _release(table: str, key: str, owner: str) -> None:
    """Drop our marker after a failure so the retry acts; a failure here only delays it."""
    try:
        aws.client("dynamodb").delete_item(
            TableName=table, Key={"id": {"S": key}}, ConditionExpression="#o = :owner",
            ExpressionAttributeNames={"#o": "owner"},
            ExpressionAttributeValues={":owner": {"S": owner}})
    except Exception as exc:  # noqa: BLE001 - the work's own error is the one to raise
        if kind_of(exc) != "condition_failed":
            get_logger().warning("idempotency marker not released; it expires with the invocation",
                                 extra={"error": error_code(exc) or type(exc).__name__})


def run_once(key: str, work: Callable[[], dict[str, Any]], *, in_flight_s: float, done_s: int,
             fingerprint: str = "", busy_message: str = "this work is already in progress",
             table: str | None = None) -> Once:
    """Run ``work()`` unless another delivery of ``key`` did or does; see the module docstring.

    Raises :class:`Conflict` while another delivery holds a live in-flight marker,
    :class:`Mismatch` when ``key`` was used with another ``fingerprint``, and
    :class:`UpstreamError` when the store cannot be reached (nothing was done then).
    """
    table = table or SharedSettings.current().required("IDEMPOTENCY_TABLE")
    owner = uuid.uuid4().hex
    try:
        held = _claim(table, key, owner, in_flight_s, fingerprint)
    except Exception as exc:
        if _is_store_failure(exc):
            raise _store_error(exc) from None
        raise
    if held is not None:
        if held.get("fingerprint", {}).get("S", "") != fingerprint:
            raise Mismatch(key)
        if held.get("status", {}).get("S") == COMPLETED and "data" in held:
            return Once(json.loads(held["data"]["S"]), replayed=True)
        raise Conflict(busy_message)
    try:
        result = work()
    except Exception:
        _release(table, key, owner)
        raise
    _complete(table, key, owner, result, done_s)
    return Once(result, replayed=False)
