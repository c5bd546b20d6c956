"""The jobs table: one item per upload, moved through its states by conditional writes only.

States: ``pending -> processing -> complete | error``, the statuses the original page polls for.
Every transition is a conditional update, so a duplicated S3 event (at-least-once delivery) finds
the job already claimed or finished and does nothing. A failure that can never work (the content,
a vanished object) ends the job as ``error`` for good. A transient one (AWS down, a crash) puts
the job back to ``pending`` with ``retryable`` set, so the event's retry can redo it and a polling
page keeps waiting instead of showing an error that the retry will clear. A ``processing`` job
whose lease ran out (the worker died mid-way) may be claimed again too.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any, Literal

from opsfn.aws_errors import kind_of
from opsfn.routes.imaging.settings import ImagingSettings
from opsfn.services import aws, lean

PENDING, PROCESSING, COMPLETE, ERROR = "pending", "processing", "complete", "error"
# Items written before ``error`` replaced ``failed``: read as ``error``, retried when retryable.
LEGACY_FAILED = "failed"
ClaimResult = Literal["claimed", "missing", "busy", "done"]



# -- DynamoDB attribute values (the low-level client; boto3's resource layer costs imports) -------
def to_attr(value: Any) -> dict[str, Any]:
    """A Python value as a DynamoDB attribute value (floats go through Decimal text)."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | float | Decimal):
        return {"N": str(Decimal(str(value)))}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, dict):
        return {"M": {str(k): to_attr(v) for k, v in value.items()}}
    if isinstance(value, list | tuple):
        return {"L": [to_attr(v) for v in value]}
    raise TypeError(f"cannot store {type(value).__name__} in DynamoDB")


def from_attr(attr: dict[str, Any]) -> Any:
    """A DynamoDB attribute value as a plain Python value (numbers as int or float)."""
    ((kind, value),) = attr.items()
    if kind == "S":
        return value
    if kind == "N":
        number = Decimal(value)
        return int(number) if number == number.to_integral_value() else float(number)
    if kind == "BOOL":
        return bool(value)
    if kind == "NULL":
        return None
    if kind == "M":
        return {k: from_attr(v) for k, v in value.items()}
    if kind == "L":
        return [from_attr(v) for v in value]
    if kind in ("SS", "NS", "BS", "B"):
        return value
    raise TypeError(f"unknown DynamoDB type {kind}")


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    """A whole item as a plain dict."""
    return {key: from_attr(value) for key, value in item.items()}


def _table() -> str:
    return ImagingSettings.current().required("TABLE_NAME")


def _condition_failed(exc: Exception) -> bool:
    return kind_of(exc) == "condition_failed"


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


# -- operations -----------------------------------------------------------------------------------
def create(job_id: str, *, file_type: str, file_name: str, s3_key: str, now: float | None = None
           ) -> dict[str, Any]:
    """Write a new ``pending`` job; the condition makes a reused jobId fail instead of overwrite."""
    now = time.time() if now is None else now
    item = {
        "jobId": job_id, "status": PENDING, "fileType": file_type, "fileName": file_name,
        "s3Key": s3_key, "createdAt": _iso(now), "updatedAt": _iso(now),
        "ttl": int(now) + ImagingSettings.current().imaging_job_ttl_s,
    }
    lean.put_item(  # the SDK's client, unless this is the first AWS call of a cold process
        TableName=_table(), Item={k: to_attr(v) for k, v in item.items()},
        ConditionExpression="attribute_not_exists(jobId)",
    )
    return item


def get(job_id: str) -> dict[str, Any] | None:
    """The job as a plain dict, or None (strongly consistent: a reader right after a write sees it)."""
    reply = lean.get_item(  # the SDK's client, unless this is the first AWS call of a cold process
        TableName=_table(), Key={"jobId": {"S": job_id}}, ConsistentRead=True,
    )
    item = reply.get("Item")
    return from_item(item) if item else None


def claim(job_id: str, lease_s: float, now: float | None = None) -> ClaimResult:
    """Move the job to ``processing`` if nobody did; ``claimed`` means this caller must do the work."""
    now = time.time() if now is None else now
    client = aws.client("dynamodb")
    try:
        client.update_item(
            TableName=_table(), Key={"jobId": {"S": job_id}},
            UpdateExpression="SET #s = :processing, leaseUntil = :lease, updatedAt = :at, "
                             "attempts = if_not_exists(attempts, :zero) + :one "
                             "REMOVE retryable",
            ConditionExpression="attribute_exists(jobId) AND (#s = :pending "
                                "OR (#s = :failed AND retryable = :true) "
                                "OR (#s = :processing AND leaseUntil < :now))",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={
                ":processing": {"S": PROCESSING}, ":pending": {"S": PENDING},
                ":failed": {"S": LEGACY_FAILED}, ":true": {"BOOL": True},
                ":lease": {"N": str(int(now + lease_s))}, ":now": {"N": str(int(now))},
                ":at": {"S": _iso(now)}, ":zero": {"N": "0"}, ":one": {"N": "1"},
            },
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except Exception as exc:
        if not _condition_failed(exc):
            raise
        old = getattr(exc, "response", {}).get("Item")
        if not old:
            return "missing"
        status = from_attr(old.get("status", {"NULL": True}))
        return "busy" if status == PROCESSING else "done"
    return "claimed"


def _finish(job_id: str, values: dict[str, Any], now: float | None) -> bool:
    """Set ``values`` on a job this worker holds; False when it no longer holds it."""
    now = time.time() if now is None else now
    values = {**values, "updatedAt": _iso(now)}
    names = {f"#f{i}": key for i, key in enumerate(values)}
    attrs = {f":v{i}": to_attr(value) for i, value in enumerate(values.values())}
    sets = ", ".join(f"#f{i} = :v{i}" for i in range(len(values)))
    try:
        aws.client("dynamodb").update_item(
            TableName=_table(), Key={"jobId": {"S": job_id}},
            UpdateExpression=f"SET {sets} REMOVE leaseUntil",
            ConditionExpression="#status = :processing",
            ExpressionAttributeNames={**names, "#status": "status"},
            ExpressionAttributeValues={**attrs, ":processing": {"S": PROCESSING}},
        )
    except Exception as exc:
        if _condition_failed(exc):
            return False
        raise
    return True


def complete(job_id: str, *, results: dict[str, Any], metadata: dict[str, Any],
             image_key: str, kind: str, now: float | None = None) -> bool:
    """``processing -> complete`` with the labels, safe metadata and the key of the browser image."""
    return _finish(job_id, {"status": COMPLETE, "results": results, "metadata": metadata,
                            "imageKey": image_key, "kind": kind, "error": None}, now)


def fail(job_id: str, reason: str, now: float | None = None) -> bool:
    """``processing -> error`` for good, with a short reason that is safe to show."""
    return _finish(job_id, {"status": ERROR, "error": reason[:200], "retryable": False}, now)


def release(job_id: str, note: str, now: float | None = None) -> bool:
    """``processing -> pending`` after a transient failure: the event's retry claims it again."""
    return _finish(job_id, {"status": PENDING, "error": note[:200], "retryable": True}, now)
