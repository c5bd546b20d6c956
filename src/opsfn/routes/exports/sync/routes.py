"""The ``sync_efs_to_s3`` action (also a queue work item), the ``sync-efs-to-s3`` schedule and
``sync_status``.

One invocation syncs one target (the whole tree, one top-level directory, or the top-level files)
under a lock, stops before the deadline and enqueues its own continuation. With sharding on, the
first invocation fans the top-level directories out as work items and syncs the top-level files
itself. Work items carry a run id and a sequence number: a duplicated delivery finds the done
marker (or the held lock) and does nothing.

With ``SYNC_ENGINE=datasync`` the same action and schedule start an execution of a DataSync task
instead (``datasync_task``); ``sync_status`` reports its progress and figures, or, for the
in-function engine, whether a sync of the target is running and when the last one completed.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from opsfn import Context, Router
from opsfn.access import ANY, allow, arn, arn_pattern, bucket, objects, queue, table
from opsfn.aws_errors import kind_of
from opsfn.errors import Conflict, InvalidSetting, NotFound, ValidationFailed
from opsfn.events import ScheduleEvent
from opsfn.routes.exports.keys import check_key_prefix
from opsfn.routes.exports.settings import ExportsSettings
from opsfn.routes.exports.sync.model import Counters, UploadOptions
from opsfn.routes.exports.sync.queue import enqueue
from opsfn.routes.exports.sync.remote import Target, normalise_prefix
from opsfn.routes.exports.sync.walk import excluded_dirs
from opsfn.routes.tls.settings import TlsSettings
from opsfn.services import aws, idempotency, locks

if TYPE_CHECKING:
    from opsfn.routes.exports.sync.engine import Outcome, SyncJob

router = Router()

ACTION = "sync_efs_to_s3"
DONE_TTL_S = 2 * 24 * 3600
_RUN_ID = r"^[A-Za-z0-9-]{1,64}$"
_EXECUTION_ARN = (r"^arn:aws[a-z-]*:datasync:[a-z0-9-]+:\d{12}:task/task-[0-9a-f]{17}"
                  r"/execution/exec-[0-9a-f]{17}$")
# Fields only the in-function engine understands (its continuations and shards).
_FUNCTION_ONLY = ("shard_by_top_level", "shard", "top_level_only", "run_id", "resume_after",
                  "totals")


class SyncRequest(BaseModel):
    """Options (defaults from settings) plus the internal fields of continuation work items."""

    model_config = ConfigDict(extra="forbid")

    prefix: str | None = Field(default=None, max_length=512)
    delete: bool | None = None
    compare: Literal["auto", "listing"] = "auto"
    shard_by_top_level: bool | None = None
    shard: str | None = Field(default=None, min_length=1, max_length=255)
    top_level_only: bool = False
    run_id: str | None = Field(default=None, pattern=_RUN_ID)
    seq: int = Field(default=0, ge=0)
    resume_after: str | None = Field(default=None, max_length=4096)
    totals: dict[str, float] | None = None

    _prefix = field_validator("prefix")(check_key_prefix)

    @field_validator("shard")
    @classmethod
    def _one_component(cls, value: str | None) -> str | None:
        if value is not None and (value in (".", "..") or "/" in value or "\x00" in value):
            raise ValueError("a shard is one top-level directory name")
        return value


class StatusRequest(BaseModel):
    """Which sync to report: an execution ARN (DataSync), else the target of the settings."""

    model_config = ConfigDict(extra="forbid")

    task_execution_arn: str | None = Field(default=None, pattern=_EXECUTION_ARN, max_length=256)
    prefix: str | None = Field(default=None, max_length=512)

    _prefix = field_validator("prefix")(check_key_prefix)


class Budget:
    """Stop starting new work when the Lambda deadline is closer than the margin."""

    def __init__(self, context: Context, margin_ms: int) -> None:
        self.context = context
        self.margin_ms = margin_ms

    def should_stop(self) -> bool:
        """True once the time left is below the margin."""
        return self.context.remaining_ms() < self.margin_ms


def _job(request: SyncRequest, run_id: str) -> SyncJob:
    from opsfn.routes.exports.sync.engine import SyncJob

    settings = ExportsSettings.current()
    root = settings.required("SYNC_SOURCE_DIR")
    bucket = settings.required("SYNC_BUCKET")
    prefix = normalise_prefix(request.prefix if request.prefix is not None else settings.sync_prefix)
    recursive = not request.top_level_only
    if request.shard is not None:
        root = str(Path(root) / request.shard)
        prefix = f"{prefix}{request.shard}/"
    options = UploadOptions(bucket=bucket, kms_key_id=settings.sync_kms_key_id,
                            concurrency=settings.sync_concurrency,
                            multipart_threshold=settings.sync_multipart_threshold,
                            multipart_chunk=settings.sync_multipart_chunk)
    delete = settings.sync_delete if request.delete is None else request.delete
    exclude = excluded_dirs(root, _private_dirs())
    if "" in exclude and request.shard is None:
        # Copying nothing (and, with delete, removing the whole target) is never what was meant.
        raise InvalidSetting(["SYNC_SOURCE_DIR", "SSL_DIR"])
    return SyncJob(root=root, target=Target(bucket, prefix, recursive), upload=options,
                   delete=delete, compare=request.compare, state_prefix=settings.sync_state_prefix,
                   run_id=run_id, seq=request.seq, resume_after=request.resume_after,
                   allow_missing_root=request.shard is not None, exclude=exclude)


def _private_dirs() -> list[str]:
    """Directories the sync never copies: the TLS materials (a private key must not leave the
    file system it was written to with mode 0600, whatever the archive bucket's access)."""
    ssl_dir = TlsSettings.current().ssl_dir
    return [ssl_dir] if ssl_dir else []


def _item(request: SyncRequest, **changes: Any) -> dict[str, Any]:
    body = request.model_dump(exclude_none=True)
    body.update(changes)
    return {"action": ACTION, **{k: v for k, v in body.items() if v is not None}}


def _fan_out(request: SyncRequest, run_id: str) -> int:
    """Enqueue one work item per top-level directory (and per directory gone, when deleting)."""
    settings = ExportsSettings.current()
    root = settings.required("SYNC_SOURCE_DIR")
    if not Path(root).is_dir():
        raise NotFound("the sync source directory does not exist (is the file system mounted?)")
    private = excluded_dirs(root, _private_dirs())
    if "" in private:
        raise InvalidSetting(["SYNC_SOURCE_DIR", "SSL_DIR"])
    names = sorted(entry.name for entry in os.scandir(root)
                   if entry.is_dir(follow_symlinks=False) and "/" not in entry.name
                   and entry.name + "/" not in private)
    delete = settings.sync_delete if request.delete is None else request.delete
    if delete:
        bucket = settings.required("SYNC_BUCKET")
        prefix = normalise_prefix(request.prefix if request.prefix is not None else settings.sync_prefix)
        state = normalise_prefix(settings.sync_state_prefix)
        pages = aws.client("s3").get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=prefix, Delimiter="/")
        remote = {p["Prefix"][len(prefix):].rstrip("/") for page in pages
                  for p in page.get("CommonPrefixes", []) if not p["Prefix"].startswith(state)}
        names = sorted(set(names) | {name for name in remote if name and name not in (".", "..")})
    items = [_item(request, shard=name, shard_by_top_level=False, run_id=f"{run_id}-{index}",
                   seq=0, resume_after=None, totals=None, top_level_only=False)
             for index, name in enumerate(names)]
    return enqueue(items)


def _already_done(run_id: str, seq: int) -> bool:
    return locks.holder_expiry(f"sync-done:{run_id}:{seq}") is not None


def _mark_done(run_id: str, seq: int) -> None:
    try:
        locks.acquire(f"sync-done:{run_id}:{seq}", DONE_TTL_S)
    except Conflict:
        pass


def _start_datasync(request: SyncRequest, context: Context, trigger: str) -> dict[str, Any]:
    """The DataSync engine: start (or find running) one execution of the task."""
    from opsfn.routes.exports.sync import datasync_task

    given = [name for name in _FUNCTION_ONLY if getattr(request, name) not in (None, False)]
    if request.seq:
        given.append("seq")
    if request.compare != "auto":
        given.append("compare")
    if given:
        raise ValidationFailed("only the in-function engine takes these fields", details=[
            {"loc": f"payload.{name}", "msg": "not used with SYNC_ENGINE=datasync",
             "type": "value_error"} for name in given])
    return datasync_task.start(request.prefix, request.delete, _private_dirs(), context, trigger)


def run_request(request: SyncRequest, context: Context, *, trigger: str) -> dict[str, Any]:
    """Run one invocation's share of a sync and enqueue what remains."""
    if ExportsSettings.current().sync_engine == "datasync":
        return _start_datasync(request, context, trigger)
    queued = request.run_id is not None
    run_id = request.run_id or uuid.uuid4().hex
    if queued and _already_done(run_id, request.seq):
        return {"status": "duplicate", "complete": True}
    if request.shard is not None and request.top_level_only:
        raise ValidationFailed("shard and top_level_only exclude each other", details=[{
            "loc": "payload.shard", "msg": "not allowed with top_level_only", "type": "value_error"}])
    settings = ExportsSettings.current()
    sharded = (settings.sync_shard_top_level if request.shard_by_top_level is None
               else request.shard_by_top_level)
    shards = 0
    if sharded and request.shard is None and not request.top_level_only and request.seq == 0:
        shards = _fan_out(request, run_id)
        request = request.model_copy(update={"top_level_only": True, "shard_by_top_level": False})
    job = _job(request, run_id)
    margin = settings.sync_deadline_margin_ms
    ttl_s = max(60, context.remaining_ms() // 1000 + 60)
    try:
        lock = locks.acquire(job.target.lock_id, ttl_s)
    except Conflict:
        if trigger == "schedule":
            # The running sync covers this firing; a queued item instead fails and is retried.
            context.logger.warning("sync skipped: target busy", extra={"trigger": trigger})
            return {"status": "busy", "complete": False, "shards": shards}
        raise Conflict("a sync of this target is already running") from None
    from opsfn.routes.exports.sync.engine import run_sync

    try:
        outcome = run_sync(job, should_stop=Budget(context, margin).should_stop)
    finally:
        locks.release(lock)
    return _finish(request, run_id, outcome, shards, context)


def _finish(request: SyncRequest, run_id: str, outcome: Outcome, shards: int, context: Context
            ) -> dict[str, Any]:
    totals = Counters()
    totals.add(request.totals or {})
    totals.add(outcome.counters.as_dict())
    continued = outcome.checkpoint is not None
    if continued:
        enqueue([_item(request, run_id=run_id, seq=request.seq + 1, resume_after=outcome.checkpoint,
                       totals=totals.as_dict())])
    _mark_done(run_id, request.seq)
    context.logger.info("sync invocation finished", extra={
        **outcome.counters.as_dict(), "mode": outcome.mode, "continued": continued, "shards": shards,
        "seq": request.seq})
    return {"status": "continued" if continued else "complete", "complete": not continued,
            "continued": continued, "shards": shards, "mode": outcome.mode, **totals.as_dict(),
            "invocation": outcome.counters.as_dict()}


_DATASYNC = "arn:{partition}:datasync:{region}:{account}:"
_ANY_NAME = "DataSyncCreateAndListHaveNoResourceLevelPermissions"
_TASKS_NAME = "DataSyncTasksAndLocationsOfThisAccount"
_ON = "SYNC_DATASYNC_S3_ROLE_ARN"  # set only where DataSync is the engine
STATUS = [allow("s3:GetObject", on=objects("SYNC_BUCKET", "{SYNC_STATE_PREFIX}")),
          allow("dynamodb:GetItem", on=table("LOCK_TABLE")),  # whether a sync holds its lock
          allow("datasync:ListTasks", on=ANY, name=_ANY_NAME, if_set=_ON,
                why="DataSync listing has no resource-level permission"),
          allow("datasync:DescribeTask", "datasync:DescribeTaskExecution", name=_TASKS_NAME,
                if_set=_ON, on=arn_pattern(_DATASYNC + "task/*"))]
SYNC = [
    *locks.ACCESS,  # one sync of a tree at a time; one DataSync task created per configuration
    allow("s3:ListBucket", on=bucket("SYNC_BUCKET")),
    allow("s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload",
          on=[objects("SYNC_BUCKET", "{SYNC_PREFIX}"), objects("SYNC_BUCKET", "{SYNC_STATE_PREFIX}")]),
    allow("sqs:GetQueueUrl", "sqs:SendMessage", on=queue("OPSFN_ACTION_QUEUE"),
          why="a sync that runs out of time continues as an action queue work item"),
    allow("datasync:CreateLocationEfs", "datasync:CreateLocationS3", "datasync:ListTasks", on=ANY,
          name=_ANY_NAME, if_set=_ON,
          why="DataSync creation and listing have no resource-level permission"),
    allow("datasync:CreateTask", "datasync:DescribeTask", "datasync:StartTaskExecution",
          "datasync:DescribeTaskExecution", "datasync:TagResource", name=_TASKS_NAME, if_set=_ON,
          on=[arn_pattern(_DATASYNC + "task/*"), arn_pattern(_DATASYNC + "location/*")]),
    allow("iam:PassRole", on=[arn("SYNC_DATASYNC_S3_ROLE_ARN"), arn("SYNC_DATASYNC_EFS_ROLE_ARN")],
          name="PassOnlyTheDataSyncRole",
          when={"StringEquals": {"iam:PassedToService": "datasync.amazonaws.com"}}),
]


@router.action(ACTION, queue=True, access=SYNC,
               description="Incremental copy of the file system to S3; continues via the action queue.")
def sync_efs_to_s3(payload: SyncRequest, context: Context) -> dict[str, Any]:
    """Sync (a share of) the source tree; queue deliveries are continuations and shards."""
    if payload.resume_after is not None and payload.run_id is None:
        raise ValidationFailed("resume_after needs run_id", details=[{
            "loc": "payload.run_id", "msg": "Field required", "type": "missing"}])
    return run_request(payload, context, trigger="queue" if context.source == "sqs" else "invoke")


@router.schedule("sync-efs-to-s3", expression="rate(1 day)",
                 access=[*SYNC, *idempotency.ACCESS])
def sync_efs_to_s3_schedule(event: ScheduleEvent, context: Context) -> dict[str, Any]:
    """The scheduled sync with the configured options, once per firing.

    EventBridge may deliver a firing twice, even at once; each run has a new run id, so without
    a record keyed by the event id a copy would sync (and fan out its shards) again. The record
    is in flight only as long as this invocation can run (a copy meanwhile gets Conflict and is
    retried), so a firing whose invocation dies mid-way is synced by its retry; a completed one
    answers its copies with its result for two days.
    """
    if not event.id:
        return run_request(SyncRequest(), context, trigger="schedule")
    once = idempotency.run_once(
        f"sync-schedule:{event.id}", lambda: run_request(SyncRequest(), context,
                                                         trigger="schedule"),
        in_flight_s=idempotency.in_flight_seconds(context), done_s=DONE_TTL_S,
        busy_message="another delivery of this firing is syncing; retry later")
    return {**once.result, "duplicate": True} if once.replayed else once.result


def _function_status(prefix: str | None) -> dict[str, Any]:
    """Whether a sync of the target runs now, and when its manifest was last written."""
    from botocore.exceptions import ClientError

    settings = ExportsSettings.current()
    target = Target(settings.required("SYNC_BUCKET"),
                    normalise_prefix(prefix if prefix is not None else settings.sync_prefix))
    running = locks.holder_expiry(target.lock_id) is not None
    key = target.state_dir(settings.sync_state_prefix) + "manifest.jsonl.gz"
    try:
        head = aws.client("s3").head_object(Bucket=target.bucket, Key=key)
        last: dict[str, Any] | None = {"last_complete": head["LastModified"].isoformat(),
                                       "manifest_bytes": head.get("ContentLength", 0)}
    except ClientError as exc:
        if kind_of(exc) != "not_found":
            raise
        last = None
    return {"engine": "function", "running": running, "complete": not running,
            **(last or {"last_complete": None, "manifest_bytes": 0})}


@router.action("sync_status", access=STATUS,
               description="Progress of the EFS to S3 sync (DataSync execution figures).")
def sync_status(payload: StatusRequest, context: Context) -> dict[str, Any]:
    """Report the sync: a DataSync execution's progress and figures, or the in-function state."""
    if ExportsSettings.current().sync_engine == "datasync" or payload.task_execution_arn:
        from opsfn.routes.exports.sync import datasync_task

        return datasync_task.status(payload.task_execution_arn, payload.prefix, _private_dirs())
    return _function_status(payload.prefix)
