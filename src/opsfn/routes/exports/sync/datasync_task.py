"""The DataSync backend's AWS side: find or create the task once, start executions, report them.

The task (and its two locations) is created the first time a configuration is synced, under a
lock so that two first syncs at once create one task, and found again by name afterwards. An
execution is started only when none is running or queued; a start also holds a one-minute guard
in LOCK_TABLE, so copies of one request (a retried invoke, a schedule firing delivered twice)
that arrive before DataSync reports the execution start nothing more. The last execution started
is recorded next to the target's manifest, so ``sync_status`` can report it after it ended.
"""

from __future__ import annotations

import json
import re
import time
from typing import TYPE_CHECKING, Any

from opsfn.errors import Conflict, InvalidSetting, NotFound, UpstreamError
from opsfn.routes.exports.settings import ExportsSettings
from opsfn.routes.exports.sync.datasync import RUNNING, TaskSpec, delete_option, execution_figures
from opsfn.routes.exports.sync.remote import Target, normalise_prefix
from opsfn.routes.exports.sync.walk import excluded_dirs
from opsfn.services import aws, locks

if TYPE_CHECKING:
    from opsfn import Context

CREATE_LOCK_S = 300
START_GUARD_S = 60
EXECUTION_ARN = re.compile(
    r"arn:aws[a-z-]*:datasync:[a-z0-9-]+:\d{12}:task/task-[0-9a-f]{17}/execution/exec-[0-9a-f]{17}")


def task_spec(prefix: str | None, private_dirs: list[str]) -> TaskSpec:
    """The task the settings describe; SSL_DIR (``private_dirs``) excluded as the walk excludes it.

    The excludes are computed against SYNC_SOURCE_DIR, the tree the function would walk: when it
    mounts the copied directory there, SSL_DIR inside it becomes an exclude of the task. A source
    inside SSL_DIR is refused, as for the in-function engine.
    """
    settings = ExportsSettings.current()
    excludes: frozenset[str] = frozenset()
    if settings.sync_source_dir and private_dirs:
        excludes = excluded_dirs(settings.sync_source_dir, private_dirs)
        if "" in excludes:
            raise InvalidSetting(["SYNC_SOURCE_DIR", "SSL_DIR"])
    groups = tuple(part.strip() for part in
                   settings.required("SYNC_DATASYNC_SECURITY_GROUP_ARNS").split(",") if part.strip())
    if not groups or len(groups) > 5:
        raise InvalidSetting(["SYNC_DATASYNC_SECURITY_GROUP_ARNS"])
    subdirectory = "/" + settings.sync_datasync_efs_subdirectory.strip("/")
    return TaskSpec(
        efs_arn=settings.required("SYNC_DATASYNC_EFS_ARN"),
        subdirectory=subdirectory if subdirectory == "/" else subdirectory + "/",
        subnet_arn=settings.required("SYNC_DATASYNC_SUBNET_ARN"),
        security_group_arns=groups,
        bucket=settings.required("SYNC_BUCKET"),
        prefix=normalise_prefix(prefix if prefix is not None else settings.sync_prefix),
        s3_role_arn=settings.required("SYNC_DATASYNC_S3_ROLE_ARN"),
        excludes=tuple(sorted(excludes)),
        access_point_arn=settings.sync_datasync_access_point_arn,
        efs_role_arn=settings.sync_datasync_efs_role_arn,
        log_group_arn=settings.sync_datasync_log_group_arn,
    )


def find_task(name: str) -> str | None:
    """The ARN of the task named ``name`` (the first by ARN if two ever had it: every caller then
    picks the same one)."""
    pages = aws.client("datasync").get_paginator("list_tasks").paginate()
    found = sorted(task["TaskArn"] for page in pages for task in page.get("Tasks", [])
                   if task.get("Name") == name and "TaskArn" in task)
    return found[0] if found else None


def ensure_task(spec: TaskSpec) -> tuple[str, bool]:
    """The task for ``spec`` and whether it was created now."""
    existing = find_task(spec.name)
    if existing is not None:
        return existing, False
    try:
        lock = locks.acquire(f"sync-datasync-create:{spec.fingerprint}", CREATE_LOCK_S)
    except Conflict:
        raise Conflict("the DataSync task for this sync is being created; try again shortly"
                       ) from None
    try:
        existing = find_task(spec.name)
        if existing is not None:
            return existing, False
        client = aws.client("datasync")
        source = client.create_location_efs(**spec.efs_location())["LocationArn"]
        destination = client.create_location_s3(**spec.s3_location())["LocationArn"]
        settings = ExportsSettings.current()
        args: dict[str, Any] = {
            "SourceLocationArn": source, "DestinationLocationArn": destination,
            "Name": spec.name, "Options": spec.options(settings.sync_delete), "Tags": [
                {"Key": "opsfn", "Value": "sync"}]}
        if spec.excludes:
            args["Excludes"] = spec.exclude_filters()
        if spec.log_group_arn:
            args["CloudWatchLogGroupArn"] = spec.log_group_arn
        return client.create_task(**args)["TaskArn"], True
    finally:
        locks.release(lock)


def _record_key(spec: TaskSpec) -> str:
    state = ExportsSettings.current().sync_state_prefix
    return Target(spec.bucket, spec.prefix).state_dir(state) + "datasync.json"


def _record(spec: TaskSpec, task_arn: str, execution_arn: str) -> None:
    body = json.dumps({"task_arn": task_arn, "task_execution_arn": execution_arn,
                       "started_at": int(time.time())}).encode()
    key_id = ExportsSettings.current().sync_kms_key_id  # encrypted like the manifests
    sse: dict[str, Any] = ({"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": key_id} if key_id
                           else {"ServerSideEncryption": "AES256"})
    aws.client("s3").put_object(Bucket=spec.bucket, Key=_record_key(spec), Body=body,
                                ContentType="application/json", **sse)


def _last_recorded(spec: TaskSpec) -> str | None:
    s3 = aws.client("s3")
    try:
        body = s3.get_object(Bucket=spec.bucket, Key=_record_key(spec))["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None
    try:
        value = json.loads(body).get("task_execution_arn")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) and EXECUTION_ARN.fullmatch(value) else None


def _busy(task_arn: str, current: str | None, created: bool) -> dict[str, Any]:
    return {"status": "busy", "engine": "datasync", "complete": False, "task_arn": task_arn,
            "task_execution_arn": current, "task_created": created}


def start(prefix: str | None, delete: bool | None, private_dirs: list[str], context: Context,
          trigger: str) -> dict[str, Any]:
    """Start one execution of the task (creating the task first if needed)."""
    spec = task_spec(prefix, private_dirs)
    task_arn, created = ensure_task(spec)
    client = aws.client("datasync")
    try:
        guard = locks.acquire(f"sync-datasync-start:{task_arn.rsplit('/', 1)[-1]}", START_GUARD_S)
    except Conflict:
        current = client.describe_task(TaskArn=task_arn).get("CurrentTaskExecutionArn")
        context.logger.info("DataSync start skipped: just started", extra={"trigger": trigger})
        return _busy(task_arn, current, created)
    try:
        described = client.describe_task(TaskArn=task_arn)
        if described.get("Status") in RUNNING:
            context.logger.info("DataSync start skipped: running", extra={"trigger": trigger})
            return _busy(task_arn, described.get("CurrentTaskExecutionArn"), created)
        if described.get("Status") == "UNAVAILABLE":
            raise UpstreamError("the DataSync task is UNAVAILABLE (check its locations and network)")
        wanted = ExportsSettings.current().sync_delete if delete is None else delete
        execution = client.start_task_execution(
            TaskArn=task_arn, OverrideOptions={"PreserveDeletedFiles": delete_option(wanted)},
        )["TaskExecutionArn"]
    except Exception:
        locks.release(guard)  # nothing started: a retry may start at once
        raise
    _record(spec, task_arn, execution)
    context.logger.info("DataSync execution started", extra={
        "trigger": trigger, "task_created": created, "delete": wanted})
    return {"status": "started", "engine": "datasync", "complete": False, "task_arn": task_arn,
            "task_execution_arn": execution, "task_created": created}


def status(execution_arn: str | None, prefix: str | None, private_dirs: list[str]
           ) -> dict[str, Any]:
    """The progress and figures of ``execution_arn``, else of the running or the last execution."""
    if execution_arn is None:
        spec = task_spec(prefix, private_dirs)
        task_arn = find_task(spec.name)
        if task_arn is None:
            raise NotFound("no DataSync task exists for this sync yet: run sync_efs_to_s3 first")
        described = aws.client("datasync").describe_task(TaskArn=task_arn)
        execution_arn = described.get("CurrentTaskExecutionArn") or _last_recorded(spec)
        if not execution_arn:
            raise NotFound("no DataSync execution has been started for this sync")
    reply = aws.client("datasync").describe_task_execution(TaskExecutionArn=execution_arn)
    return {"engine": "datasync", "task_execution_arn": execution_arn,
            **execution_figures(reply)}
