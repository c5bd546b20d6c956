"""RDS snapshot export to S3: newest available snapshot, idempotent start, JSON-safe status.

The identifier of an export is derived from the snapshot and the number of earlier failed or
cancelled attempts, so a repeated or duplicated request computes the same identifier and finds the
export already running instead of starting a second one (or failing on a reused identifier).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from opsfn.core.invocation import Context
from opsfn.core.router import Router
from opsfn.errors import NotFound, ValidationFailed
from opsfn.events import ScheduleEvent
from opsfn.routes.exports.keys import check_key_prefix
from opsfn.routes.exports.settings import ExportsSettings
from opsfn.services import aws

router = Router()

ACTIVE_STATES = frozenset({"STARTING", "IN_PROGRESS", "COMPLETE"})
MAX_ID = 60
_SNAPSHOT_ARN = re.compile(
    r"^arn:aws[a-z-]*:rds:[a-z0-9-]+:\d{12}:(snapshot|cluster-snapshot):[A-Za-z0-9:-]+$")


class ExportRequest(BaseModel):
    """What to export; everything defaults to the settings."""

    model_config = ConfigDict(extra="forbid")

    snapshot_arn: str | None = Field(default=None, max_length=512)
    db_cluster_identifier: str | None = Field(default=None, max_length=63)
    db_instance_identifier: str | None = Field(default=None, max_length=63)
    s3_prefix: str | None = Field(
        default=None, max_length=512,
        description="A sub-prefix under RDS_EXPORT_PREFIX (the export role may write only there).")
    export_only: list[str] | None = None

    _s3_prefix = field_validator("s3_prefix")(check_key_prefix)


def export_prefix(base: str, sub_prefix: str | None) -> str:
    """Where an export is written: always below ``base``, which is all the role may write to
    (a caller's prefix can neither fail on access nor land among other archive data)."""
    parts = [part.strip("/") for part in (base, sub_prefix or "") if part.strip("/")]
    return "/".join(parts)


class StatusRequest(BaseModel):
    """Which export to report: by identifier, or the newest export of a snapshot."""

    model_config = ConfigDict(extra="forbid")

    export_task_identifier: str | None = Field(default=None, max_length=60)
    snapshot_arn: str | None = Field(default=None, max_length=512)


# -- pure helpers --------------------------------------------------------------------------------
def slug(text: str) -> str:
    """Letters, digits and single hyphens only, no leading/trailing hyphen."""
    return re.sub(r"-+", "-", re.sub(r"[^A-Za-z0-9]", "-", text)).strip("-")


def export_identifier(snapshot_arn: str, attempt: int) -> str:
    """A valid export identifier (<= 60 chars, starts with a letter), unique per snapshot+attempt."""
    digest = hashlib.sha256(snapshot_arn.encode()).hexdigest()[:10]
    tail = f"-{digest}-{attempt}"
    name = slug(snapshot_arn.rsplit(":", 1)[-1]) or "snapshot"
    head = slug(f"opsfn-{name}"[: MAX_ID - len(tail)])
    return f"{head}{tail}"


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else None


def summarize(task: dict[str, Any], *, reused: bool | None = None) -> dict[str, Any]:
    """An export task as plain JSON: strings, numbers and ISO times only."""
    summary: dict[str, Any] = {
        "export_task_identifier": task.get("ExportTaskIdentifier"),
        "source_arn": task.get("SourceArn"),
        "status": str(task.get("Status", "")).upper(),
        "percent_progress": int(task.get("PercentProgress", 0) or 0),
        "s3_bucket": task.get("S3Bucket"),
        "s3_prefix": task.get("S3Prefix"),
        "source_type": task.get("SourceType"),
        "snapshot_time": _iso(task.get("SnapshotTime")),
        "task_start_time": _iso(task.get("TaskStartTime")),
        "task_end_time": _iso(task.get("TaskEndTime")),
        "total_extracted_data_gb": task.get("TotalExtractedDataInGB"),
        "failure_cause": task.get("FailureCause"),
    }
    if reused is not None:
        summary["reused"] = reused
    return summary


def newest_available(snapshots: list[dict[str, Any]], arn_key: str) -> str | None:
    """The ARN of the newest snapshot whose status is ``available``."""
    ready = [s for s in snapshots if s.get("Status") == "available" and s.get("SnapshotCreateTime")]
    if not ready:
        return None
    return str(max(ready, key=lambda s: s["SnapshotCreateTime"])[arn_key])


# -- AWS I/O -------------------------------------------------------------------------------------
_Paginated = Literal["describe_db_cluster_snapshots", "describe_db_snapshots",
                     "describe_export_tasks"]


def _paginate(operation: _Paginated, key: str, **params: Any) -> list[dict[str, Any]]:
    """Every item of a paginated RDS describe call (automated and manual snapshots alike)."""
    paginator = aws.client("rds").get_paginator(operation)
    items: list[dict[str, Any]] = []
    for page in paginator.paginate(**params):
        fields: Mapping[str, Any] = page
        items.extend(dict(item) for item in fields.get(key, []))
    return items


def find_newest_snapshot(cluster_id: str | None, instance_id: str | None) -> str:
    """Newest available snapshot ARN of the cluster (preferred) or the instance."""
    if cluster_id:
        snaps = _paginate("describe_db_cluster_snapshots", "DBClusterSnapshots",
                          DBClusterIdentifier=cluster_id)
        arn = newest_available(snaps, "DBClusterSnapshotArn")
    elif instance_id:
        snaps = _paginate("describe_db_snapshots", "DBSnapshots", DBInstanceIdentifier=instance_id)
        arn = newest_available(snaps, "DBSnapshotArn")
    else:
        raise ValidationFailed("no snapshot to export: set RDS_EXPORT_CLUSTER_ID or "
                               "RDS_EXPORT_INSTANCE_ID, or pass snapshot_arn",
                               details=[{"loc": "payload.snapshot_arn", "msg": "Field required",
                                         "type": "missing"}])
    if arn is None:
        raise NotFound("no available snapshot of the configured database")
    return arn


def exports_of(snapshot_arn: str) -> list[dict[str, Any]]:
    """Every export task of one snapshot (filtered again locally: not every API honours it)."""
    tasks = _paginate("describe_export_tasks", "ExportTasks", SourceArn=snapshot_arn)
    return [t for t in tasks if t.get("SourceArn") == snapshot_arn]


def _describe(identifier: str) -> dict[str, Any] | None:
    client = aws.client("rds")
    try:
        tasks = client.describe_export_tasks(ExportTaskIdentifier=identifier).get("ExportTasks", [])
    except client.exceptions.ExportTaskNotFoundFault:
        return None
    return dict(tasks[0]) if tasks else None


def start_export(request: ExportRequest) -> dict[str, Any]:
    """Start (or find) the export of the requested snapshot."""
    settings = ExportsSettings.current()
    if request.snapshot_arn is not None and not _SNAPSHOT_ARN.match(request.snapshot_arn):
        raise ValidationFailed("invalid snapshot ARN", details=[{
            "loc": "payload.snapshot_arn", "msg": "not an RDS snapshot or cluster snapshot ARN",
            "type": "value_error"}])
    bucket = settings.required("RDS_EXPORT_BUCKET")
    role = settings.required("RDS_EXPORT_ROLE_ARN")
    kms = settings.required("RDS_EXPORT_KMS_KEY_ID")
    arn = request.snapshot_arn or find_newest_snapshot(
        request.db_cluster_identifier or settings.rds_export_cluster_id,
        request.db_instance_identifier or settings.rds_export_instance_id)

    previous = exports_of(arn)
    for task in previous:
        if str(task.get("Status", "")).upper() in ACTIVE_STATES:
            return summarize(task, reused=True)
    identifier = export_identifier(arn, len(previous) + 1)
    params: dict[str, Any] = {
        "ExportTaskIdentifier": identifier, "SourceArn": arn, "S3BucketName": bucket,
        "IamRoleArn": role, "KmsKeyId": kms,
        "S3Prefix": export_prefix(settings.rds_export_prefix, request.s3_prefix),
    }
    if not params["S3Prefix"]:
        del params["S3Prefix"]
    if request.export_only:
        params["ExportOnly"] = request.export_only
    client = aws.client("rds")
    try:
        task = dict(client.start_export_task(**params))
    except client.exceptions.ExportTaskAlreadyExistsFault:
        # A duplicated delivery got there first with the same deterministic identifier.
        found = _describe(identifier)
        if found is None:
            raise
        return summarize(found, reused=True)
    return summarize(task, reused=False)


def export_status(request: StatusRequest) -> dict[str, Any]:
    """Status and percent of one export (by identifier, or the newest of a snapshot)."""
    if request.export_task_identifier:
        task = _describe(request.export_task_identifier)
        if task is None:
            raise NotFound("no export task with that identifier")
        return summarize(task)
    if request.snapshot_arn:
        tasks = exports_of(request.snapshot_arn)
        if not tasks:
            raise NotFound("no export of that snapshot")
        newest = max(tasks, key=lambda t: _iso(t.get("TaskStartTime")) or "")
        return summarize(newest)
    raise ValidationFailed("give export_task_identifier or snapshot_arn", details=[{
        "loc": "payload.export_task_identifier", "msg": "Field required", "type": "missing"}])


# -- routes --------------------------------------------------------------------------------------
@router.action("export_rds_snapshot",
               description="Export the newest (or a given) RDS snapshot to S3; idempotent.")
def export_rds_snapshot(payload: ExportRequest, context: Context) -> dict[str, Any]:
    """Start the export, or return the one already running or complete for that snapshot."""
    result = start_export(payload)
    context.logger.info("rds export", extra={"status": result["status"], "reused": result["reused"]})
    return result


@router.action("export_status", description="Status and percent of an RDS snapshot export.")
def export_status_action(payload: StatusRequest, context: Context) -> dict[str, Any]:
    """Report one export as a JSON-safe summary."""
    return export_status(payload)


@router.schedule("export-rds-snapshot", expression="cron(0 4 * * ? *)")
def export_rds_snapshot_schedule(event: ScheduleEvent, context: Context) -> dict[str, Any]:
    """Nightly export of the configured database's newest snapshot."""
    return export_rds_snapshot(ExportRequest(), context)
