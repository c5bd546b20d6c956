"""Request runs of the Glue workflow without piling them up and without losing any.

While a run is active (RUNNING or STOPPING in the paginated run list, or Glue answering
``ConcurrentRunsExceededException``), a request only records that another run is pending: one item
in LOCK_TABLE with a counter. When a run finishes (a Glue job state change) or the schedule fires,
the pending run starts. A start clears only the pending requests it read before starting, so a
request that raced with it keeps its marker and gets a run of its own.
"""

from __future__ import annotations

import time
from typing import Any

from opsfn.errors import Conflict
from opsfn.routes.etl.settings import EtlSettings
from opsfn.services import aws, locks
from opsfn.services.settings import SharedSettings

ACTIVE = frozenset({"RUNNING", "STOPPING"})
START_LOCK_S = 60
PENDING_RETENTION_S = 7 * 86_400


def workflow() -> str:
    """The configured workflow name."""
    return EtlSettings.current().required("GLUE_WORKFLOW_NAME")


def run_properties(trigger: str, event_id: str, bucket: str | None = None,
                   key: str | None = None) -> dict[str, str]:
    """RunProperties naming what asked for the run (never a secret)."""
    props = {"trigger": trigger, "eventId": event_id}
    if bucket:
        props["bucket"] = bucket
    if key:
        props["key"] = key
    return props


def active_runs(name: str) -> list[str]:
    """Ids of runs still active, over every page of the run list."""
    client = aws.client("glue")
    active: list[str] = []
    for page in client.get_paginator("get_workflow_runs").paginate(Name=name):
        active += [run["WorkflowRunId"] for run in page.get("Runs", [])
                   if run.get("Status") in ACTIVE]
    return active


def _pending_key(name: str) -> str:
    return f"glue-pending#{name}"


def read_pending(name: str) -> int:
    """How many requests wait for a run (0 when none)."""
    item = aws.client("dynamodb").get_item(
        TableName=SharedSettings.current().required("LOCK_TABLE"), Key={"lockId": {"S": _pending_key(name)}},
        ConsistentRead=True).get("Item") or {}
    return int(item.get("pendingCount", {}).get("N", "0"))


def mark_pending(name: str, reason: str) -> int:
    """Record one more request waiting for a run; returns the waiting count."""
    reply = aws.client("dynamodb").update_item(
        TableName=SharedSettings.current().required("LOCK_TABLE"), Key={"lockId": {"S": _pending_key(name)}},
        UpdateExpression="ADD pendingCount :one SET lastReason = :r, lastRequestAt = :now, "
                         "expiresAt = :exp",
        ExpressionAttributeValues={":one": {"N": "1"}, ":r": {"S": reason},
                                   ":now": {"N": str(int(time.time()))},
                                   ":exp": {"N": str(int(time.time()) + PENDING_RETENTION_S)}},
        ReturnValues="UPDATED_NEW",
    )
    return int(reply["Attributes"]["pendingCount"]["N"])


def clear_pending(name: str, seen: int) -> bool:
    """Drop the marker if nothing was added since it read ``seen``; False when it changed."""
    client = aws.client("dynamodb")
    try:
        client.delete_item(
            TableName=SharedSettings.current().required("LOCK_TABLE"),
            Key={"lockId": {"S": _pending_key(name)}},
            ConditionExpression="pendingCount = :seen",
            ExpressionAttributeValues={":seen": {"N": str(seen)}},
        )
    except client.exceptions.ConditionalCheckFailedException:
        return False
    return True


def _pending(name: str, reason: str, record: bool, **extra: Any) -> dict[str, Any]:
    waiting = mark_pending(name, reason) if record else read_pending(name)
    return {"state": "pending", "reason": reason, "pending": waiting, **extra}


def request_run(props: dict[str, str], *, only_if_pending: bool = False) -> dict[str, Any]:
    """Start a run now if none is active, else leave a pending request.

    ``only_if_pending`` (a finished run, the schedule's drain) starts a run only when requests
    are waiting and records nothing new when it cannot.
    """
    name = workflow()
    record = not only_if_pending
    if only_if_pending and read_pending(name) == 0:
        return {"state": "idle"}
    try:
        lock = locks.acquire(f"glue-start#{name}", START_LOCK_S)
    except Conflict:
        return _pending(name, "start_in_progress", record)
    try:
        active = active_runs(name)
        if active:
            return _pending(name, "run_active", record, activeRunId=active[0])
        seen = read_pending(name)
        if only_if_pending and seen == 0:
            return {"state": "idle"}
        client = aws.client("glue")
        try:
            run_id = client.start_workflow_run(Name=name, RunProperties=props)["RunId"]
        except client.exceptions.ConcurrentRunsExceededException:
            return _pending(name, "concurrent_runs_exceeded", record)
        if seen:
            clear_pending(name, seen)
        return {"state": "started", "runId": run_id, "coveredPending": seen}
    finally:
        locks.release(lock)
