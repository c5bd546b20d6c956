"""Glue ETL triggering for the FHIR lakehouse: landed files, the schedule, job state changes.

Every trigger is at-least-once, so each delivery runs through :mod:`opsfn.services.idempotency`
keyed by its event id: the in-flight marker lasts as long as the invocation (plus a margin), so a
delivery killed by a timeout or out of memory is redone by its retry; a completed one is
remembered for GLUE_DEDUP_SECONDS and its duplicates answer with the first result. A failure
drops the marker and raises, so the retry does the work (the original answered 200 on failure).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from opsfn import Context, Router, setting
from opsfn.access import allow, arn_pattern, objects, table
from opsfn.aws_errors import kind_of
from opsfn.errors import DeadlineExceeded
from opsfn.events import EventBridgeEvent, S3Object, ScheduleEvent
from opsfn.routes.etl import landing, runs, validate
from opsfn.routes.etl.settings import EtlSettings
from opsfn.services import alerts, idempotency

router = Router()

FAILED_STATES = frozenset({"FAILED", "TIMEOUT", "STOPPED", "ERROR", "EXPIRED"})
FINISHED_STATES = FAILED_STATES | {"SUCCEEDED"}
CHECK_MARGIN_MS = 3_000


class GlueJobStateChange(BaseModel):
    """The ``detail`` of a "Glue Job State Change" event."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, defer_build=True)

    job_name: str = Field(alias="jobName", min_length=1, max_length=255)
    state: str = Field(min_length=1, max_length=32)
    job_run_id: str = Field(alias="jobRunId", min_length=1, max_length=255)
    message: str | None = Field(default=None, max_length=20_000)
    severity: str | None = None


def _once(marker: str, work: Callable[[], dict[str, Any]], context: Context) -> dict[str, Any]:
    """Run ``work()`` once per marker; a duplicate gets the first result, flagged as such."""
    once = idempotency.run_once(
        marker, work, in_flight_s=idempotency.in_flight_seconds(context),
        done_s=EtlSettings.current().glue_dedup_seconds,
        busy_message="another delivery of this event is being handled; retry later")
    return {**once.result, "duplicate": True} if once.replayed else once.result


def _quarantine(obj: S3Object, event: str, suffix: str, verdict: validate.Verdict,
                context: Context) -> dict[str, Any]:
    target = landing.quarantine_key(EtlSettings.current().quarantine_prefix, event, suffix)
    moved = landing.quarantine(obj.bucket, obj.key, target, verdict)
    entry = landing.where(verdict)
    alerts.publish(
        f"ETL landing file quarantined ({verdict.reason})",
        "A landed file was moved to quarantine instead of feeding the ETL.\n\n"
        f"Bucket: {obj.bucket}\nQuarantine key: {target}\nReason: {verdict.reason}\n"
        + (f"First bad entry: {entry}\n" if entry else "") + f"Event id: {event}\n",
        {"reason": str(verdict.reason), "source": "glue-landing"},
    )
    landing.delete_original(obj.bucket, obj.key)
    context.logger.warning("landing file quarantined", extra={
        "reason": verdict.reason, "event_id": event, "entry": entry or None})
    return {"state": "quarantined", **moved}


def _deadline_guard(context: Context) -> Callable[[], None]:
    """Stop checking a file before the Lambda deadline (its retry starts over in full time)."""
    def tick() -> None:
        if context.remaining_ms() < CHECK_MARGIN_MS:
            raise DeadlineExceeded("the landed file could not be checked before the deadline; "
                                   "LANDING_MAX_FILE_BYTES bounds the files checked")
    return tick


# Requesting a run: start the workflow, or keep one pending (in the lock table) while one runs.
RUNS = [*idempotency.ACCESS,
        allow("glue:GetWorkflowRuns", "glue:StartWorkflowRun", on=arn_pattern(
            "arn:{partition}:glue:{region}:{account}:workflow/{GLUE_WORKFLOW_NAME}")),
        allow("dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
              on=table("LOCK_TABLE"))]


@router.s3(bucket=setting("LANDING_BUCKET"), access=[
    *RUNS, *alerts.ACCESS,
    allow("s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload",
          on=objects("LANDING_BUCKET"), why="read landed files, move bad ones to quarantine"),
])
def on_landing(obj: S3Object, context: Context) -> dict[str, Any]:
    """A landed FHIR file (LANDING_PREFIX and a landing suffix): quarantine it or request a run."""
    settings = EtlSettings.current()
    found = landing.file_format(obj.key, settings)
    if found is None:
        return {"state": "ignored"}
    layout, suffix = found
    event = landing.event_id(obj)

    def work() -> dict[str, Any]:
        from botocore.exceptions import ClientError

        try:
            verdict = landing.inspect(obj.bucket, obj.key, layout, _deadline_guard(context))
        except ClientError as exc:
            if kind_of(exc) == "not_found":
                return {"state": "gone"}  # moved or deleted since the event: nothing to feed
            raise
        if verdict.reason is not None:
            return _quarantine(obj, event, suffix, verdict, context)
        context.logger.info("landing file accepted", extra={
            "event_id": event, "layout": verdict.layout, "resources": verdict.resources})
        props = runs.run_properties("s3", event, obj.bucket, obj.key)
        return {**runs.request_run(props), "layout": verdict.layout,
                "resources": verdict.resources}

    return _once(f"glue-request#{event}", work, context)


@router.schedule("etl-scheduled-run", expression="rate(1 hour)", access=RUNS)
def scheduled_run(event: ScheduleEvent, context: Context) -> dict[str, Any]:
    """The schedule requests a run (and so also drains a pending one)."""
    props = runs.run_properties("schedule", event.id or "schedule")
    if not event.id:
        return runs.request_run(props)
    return _once(f"glue-request#{event.id}", lambda: runs.request_run(props), context)


def _alert(detail: GlueJobStateChange) -> dict[str, Any]:
    message_id = alerts.publish(
        f"Glue job {detail.job_name} {detail.state}",
        f"Glue job: {detail.job_name}\nRun id: {detail.job_run_id}\nState: {detail.state}\n"
        f"Severity: {detail.severity or 'unknown'}\nMessage: {detail.message or '(none)'}\n",
        {"state": detail.state, "job": detail.job_name, "source": "glue"},
    )
    return {"alerted": True, "messageId": message_id}


@router.eventbridge(source="aws.glue", detail_type="Glue Job State Change",
                    access=[*RUNS, *alerts.ACCESS])
def job_state_change(detail: GlueJobStateChange, event: EventBridgeEvent,
                     context: Context) -> dict[str, Any]:
    """Alert on failed, timed-out and stopped jobs; a finished job starts a pending run."""
    settings = EtlSettings.current()
    jobs = {name.strip() for name in (settings.glue_job_names or "").split(",") if name.strip()}
    if jobs and detail.job_name not in jobs:
        return {"state": "ignored"}
    result: dict[str, Any] = {"job": detail.job_name, "jobState": detail.state, "alerted": False}
    if detail.state in FAILED_STATES or (detail.state == "SUCCEEDED"
                                         and settings.glue_alert_on_success):
        alert = _once(f"glue-alert#{detail.job_run_id}#{detail.state}", lambda: _alert(detail),
                      context)
        result.update(alert if not alert.get("duplicate") else {"alertDuplicate": True})
    if detail.state in FINISHED_STATES:
        result["run"] = runs.request_run(
            runs.run_properties("pending", event.id or detail.job_run_id),
            only_if_pending=True)
    context.logger.info("glue job state handled", extra={"job": detail.job_name,
                                                         "state": detail.state})
    return result
