"""RDS export to S3: the newest available snapshot, or a live DB cluster; idempotent start.

Two sources. *Snapshot* (the default): the newest available snapshot of the configured cluster or
instance, or a given snapshot ARN. *Cluster*: the live Aurora cluster itself (``SourceArn`` = the
DB cluster ARN, as the OpenEMR stack's ``export_from_rds_to_s3`` calls it); RDS exports a clone of
the cluster as it is when the task starts.

The identifier of an export is derived from its source and the number of earlier failed or
cancelled attempts, so a repeated or duplicated request computes the same identifier and finds the
export already running instead of starting a second one (or failing on a reused identifier). A
live cluster is always the same source, so its identifier also holds the *window*: the UTC day of
the request (the schedule's own time for a schedule, so a late retry stays on its day) or a
caller's ``run_id``. One export per cluster and window; while one export of the cluster is
running, no second one starts.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from opsfn import Context, Router
from opsfn.access import ANY, allow, arn, arn_pattern
from opsfn.errors import NotFound, ValidationFailed
from opsfn.events import ScheduleEvent
from opsfn.routes.exports.keys import check_key_prefix
from opsfn.routes.exports.settings import ExportsSettings
from opsfn.services import aws

router = Router()

ACTIVE_STATES = frozenset({"STARTING", "IN_PROGRESS", "COMPLETE"})
RUNNING_STATES = frozenset({"STARTING", "IN_PROGRESS"})
MAX_ID = 60
_SNAPSHOT_ARN = re.compile(
    r"^arn:aws[a-z-]*:rds:[a-z0-9-]+:\d{12}:(snapshot|cluster-snapshot):[A-Za-z0-9:-]+$")
_CLUSTER_ARN = re.compile(r"^arn:aws[a-z-]*:rds:[a-z0-9-]+:\d{12}:cluster:[A-Za-z][A-Za-z0-9-]{0,62}$")


class ExportRequest(BaseModel):
    """What to export; everything defaults to the settings."""

    model_config = ConfigDict(extra="forbid")

    snapshot_arn: str | None = Field(default=None, max_length=512)
    cluster_arn: str | None = Field(
        default=None, max_length=512,
        description="Export this live DB cluster (SourceArn = the cluster ARN).")
    source: Literal["snapshot", "cluster"] | None = Field(
        default=None, description="What to export when no ARN is given (default RDS_EXPORT_SOURCE).")
    run_id: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9]{1,16}$",
        description="A live-cluster export of its own instead of the day's one.")
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
    cluster_arn: str | None = Field(default=None, max_length=512)


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


def window_of(now: datetime, run_id: str | None = None) -> str:
    """The window of a live-cluster export: the caller's run id, else the UTC day."""
    return run_id or now.astimezone(UTC).strftime("%Y%m%d")


def cluster_window_marker(cluster_arn: str, window: str) -> str:
    """The part of an identifier that names one cluster and window (``-<digest>-``)."""
    return "-" + hashlib.sha256(f"{cluster_arn}|{window}".encode()).hexdigest()[:10] + "-"


def cluster_export_identifier(cluster_arn: str, window: str, attempt: int) -> str:
    """A valid export identifier for attempt ``attempt`` of a live cluster in ``window``."""
    tail = f"-{window}{cluster_window_marker(cluster_arn, window)}{attempt}"
    name = slug(cluster_arn.rsplit(":", 1)[-1]) or "cluster"
    head = slug(f"opsfn-{name}"[: MAX_ID - len(tail)])
    return f"{head}{tail}"


def schedule_time(text: str | None) -> datetime | None:
    """The time a schedule fired for (EventBridge ``time``), None when absent or unreadable."""
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


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


def exports_of(source_arn: str) -> list[dict[str, Any]]:
    """Every export task of one source (filtered again locally: not every API honours it)."""
    tasks = _paginate("describe_export_tasks", "ExportTasks", SourceArn=source_arn)
    return [t for t in tasks if t.get("SourceArn") == source_arn]


def cluster_arn_of(cluster_id: str) -> str:
    """The ARN of a DB cluster by identifier (when RDS_EXPORT_CLUSTER_ARN is not set)."""
    client = aws.client("rds")
    try:
        clusters = client.describe_db_clusters(DBClusterIdentifier=cluster_id).get("DBClusters", [])
    except client.exceptions.DBClusterNotFoundFault:
        clusters = []
    if not clusters:
        raise NotFound("the configured DB cluster does not exist")
    return str(clusters[0]["DBClusterArn"])


def _arn_problem(loc: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"invalid {message}", details=[{
        "loc": loc, "msg": f"not an RDS {message}", "type": "value_error"}])


def _describe(identifier: str) -> dict[str, Any] | None:
    client = aws.client("rds")
    try:
        tasks = client.describe_export_tasks(ExportTaskIdentifier=identifier).get("ExportTasks", [])
    except client.exceptions.ExportTaskNotFoundFault:
        return None
    return dict(tasks[0]) if tasks else None


@dataclass(frozen=True, slots=True)
class Target:
    """What one request exports: the source ARN, and the window of a live cluster."""

    source_arn: str
    window: str | None = None


def resolve_target(request: ExportRequest, now: datetime) -> Target:
    """The source to export, from the payload, else from the settings."""
    settings = ExportsSettings.current()
    if request.snapshot_arn is not None and request.cluster_arn is not None:
        raise ValidationFailed("give snapshot_arn or cluster_arn, not both", details=[{
            "loc": "payload.cluster_arn", "msg": "snapshot_arn is given too",
            "type": "value_error"}])
    if request.snapshot_arn is not None:
        if not _SNAPSHOT_ARN.match(request.snapshot_arn):
            raise ValidationFailed("invalid snapshot ARN", details=[{
                "loc": "payload.snapshot_arn",
                "msg": "not an RDS snapshot or cluster snapshot ARN", "type": "value_error"}])
        return Target(request.snapshot_arn)
    if request.cluster_arn is not None:
        if not _CLUSTER_ARN.match(request.cluster_arn):
            raise _arn_problem("payload.cluster_arn", "DB cluster ARN")
        return Target(request.cluster_arn, window_of(now, request.run_id))
    if (request.source or settings.rds_export_source) == "cluster":
        cluster_id = request.db_cluster_identifier or settings.rds_export_cluster_id
        arn = None if request.db_cluster_identifier else settings.rds_export_cluster_arn
        if arn is None and not cluster_id:
            raise ValidationFailed("no cluster to export: set RDS_EXPORT_CLUSTER_ARN or "
                                   "RDS_EXPORT_CLUSTER_ID, or pass cluster_arn",
                                   details=[{"loc": "payload.cluster_arn", "msg": "Field required",
                                             "type": "missing"}])
        if arn is not None and not _CLUSTER_ARN.match(arn):
            raise _arn_problem("settings.RDS_EXPORT_CLUSTER_ARN", "DB cluster ARN")
        return Target(arn or cluster_arn_of(str(cluster_id)), window_of(now, request.run_id))
    return Target(find_newest_snapshot(
        request.db_cluster_identifier or settings.rds_export_cluster_id,
        request.db_instance_identifier or settings.rds_export_instance_id))


def plan(target: Target, previous: list[dict[str, Any]]) -> tuple[dict[str, Any] | None, str]:
    """(the export to return instead of starting one, or None; the identifier to start).

    A snapshot's exports are all attempts of the same thing. A live cluster's exports belong to
    their window (recognised by its marker in the identifier); a running export of the cluster,
    of any window, is returned rather than started beside (each live export clones the cluster).
    """
    if target.window is None:
        for task in previous:
            if str(task.get("Status", "")).upper() in ACTIVE_STATES:
                return task, ""
        return None, export_identifier(target.source_arn, len(previous) + 1)
    marker = cluster_window_marker(target.source_arn, target.window)
    running = [t for t in previous if str(t.get("Status", "")).upper() in RUNNING_STATES]
    if running:
        return max(running, key=lambda t: _iso(t.get("TaskStartTime")) or ""), ""
    mine = [t for t in previous if marker in str(t.get("ExportTaskIdentifier", ""))]
    for task in mine:
        if str(task.get("Status", "")).upper() in ACTIVE_STATES:
            return task, ""
    return None, cluster_export_identifier(target.source_arn, target.window, len(mine) + 1)


def start_export(request: ExportRequest, now: datetime | None = None) -> dict[str, Any]:
    """Start (or find) the export of the requested snapshot or live cluster."""
    settings = ExportsSettings.current()
    bucket = settings.required("RDS_EXPORT_BUCKET")
    role = settings.required("RDS_EXPORT_ROLE_ARN")
    kms = settings.required("RDS_EXPORT_KMS_KEY_ID")
    target = resolve_target(request, now or datetime.now(UTC))

    existing, identifier = plan(target, exports_of(target.source_arn))
    if existing is not None:
        return summarize(existing, reused=True)
    params: dict[str, Any] = {
        "ExportTaskIdentifier": identifier, "SourceArn": target.source_arn, "S3BucketName": bucket,
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
    """Status and percent of one export (by identifier, or the newest of a snapshot/cluster)."""
    if request.export_task_identifier:
        task = _describe(request.export_task_identifier)
        if task is None:
            raise NotFound("no export task with that identifier")
        return summarize(task)
    for source, what in ((request.snapshot_arn, "snapshot"), (request.cluster_arn, "cluster")):
        if source:
            tasks = exports_of(source)
            if not tasks:
                raise NotFound(f"no export of that {what}")
            newest = max(tasks, key=lambda t: _iso(t.get("TaskStartTime")) or "")
            return summarize(newest)
    raise ValidationFailed("give export_task_identifier, snapshot_arn or cluster_arn", details=[{
        "loc": "payload.export_task_identifier", "msg": "Field required", "type": "missing"}])


# -- routes --------------------------------------------------------------------------------------
def _export(payload: ExportRequest, context: Context, now: datetime | None = None
            ) -> dict[str, Any]:
    result = start_export(payload, now)
    context.logger.info("rds export", extra={"status": result["status"], "reused": result["reused"],
                                             "source_type": result["source_type"]})
    return result


_RDS = "arn:{partition}:rds:{region}:{account}:"
_TASKS = "ExportTasksHaveNoResourceLevelPermissions"
_ON = "RDS_EXPORT_KMS_KEY_ID"  # exports are configured with their key
STATUS = [allow("rds:DescribeExportTasks", on=ANY, name=_TASKS, if_set=_ON,
                why="RDS export tasks have no resource-level permission")]
EXPORT = [
    *STATUS,
    allow("rds:DescribeDBClusterSnapshots", "rds:DescribeDBSnapshots", "rds:DescribeDBClusters",
          on=[arn_pattern(_RDS + "cluster:*"), arn_pattern(_RDS + "db:*"),
              arn_pattern(_RDS + "cluster-snapshot:*"), arn_pattern(_RDS + "snapshot:*")],
          name="FindSnapshots", if_set=_ON,
          why="the newest snapshot of the configured cluster or instance is looked for"),
    allow("rds:StartExportTask", on=ANY, name=_TASKS, if_set=_ON,
          why="RDS export tasks have no resource-level permission"),
    allow("iam:PassRole", on=arn("RDS_EXPORT_ROLE_ARN"), name="PassOnlyTheExportRole", if_set=_ON,
          when={"StringEquals": {"iam:PassedToService": "export.rds.amazonaws.com"}}),
    allow("kms:DescribeKey", "kms:CreateGrant", on=arn("RDS_EXPORT_KMS_KEY_ID"), name="ExportKey",
          why="RDS encrypts the export with it on the function's behalf"),
]


@router.action("export_rds_snapshot", access=EXPORT,
               description="Export the newest (or a given) RDS snapshot, or the live DB cluster, to "
                           "S3; idempotent.")
def export_rds_snapshot(payload: ExportRequest, context: Context) -> dict[str, Any]:
    """Start the export, or return the one already running or complete for that source."""
    return _export(payload, context)


@router.action("export_status", description="Status and percent of an RDS export.",
               access=STATUS)
def export_status_action(payload: StatusRequest, context: Context) -> dict[str, Any]:
    """Report one export as a JSON-safe summary."""
    return export_status(payload)


@router.schedule("export-rds-snapshot", expression="cron(0 4 * * ? *)", access=EXPORT)
def export_rds_snapshot_schedule(event: ScheduleEvent, context: Context) -> dict[str, Any]:
    """Nightly export of the configured source (RDS_EXPORT_SOURCE), in the window it fired for."""
    return _export(ExportRequest(), context, schedule_time(event.time))
