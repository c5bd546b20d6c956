"""The dashboard's database, running only while used: start, status, activity, stop, auto-stop.

``POST /database/start`` answers 202 with a restart id when it starts the database, 200 with the
status when it is already available or starting, and 409 while another start holds the start lock
(a DynamoDB lock with a TTL, so a crashed request cannot block starts for long). The schedule
``database-auto-stop`` stops it when idle or up too long, only when ``available``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from opsfn.core.binding import validation_error
from opsfn.core.invocation import Context
from opsfn.core.router import Router
from opsfn.errors import Conflict, ValidationFailed
from opsfn.events import HttpRequest, Response, ScheduleEvent
from opsfn.routes.database import rds, state, store
from opsfn.routes.database.settings import DatabaseSettings
from opsfn.services import audit, locks

router = Router(auth="default")  # operator routes: the deployment's default authorizer

STOP_LOCK_S = 300
FUTURE_SKEW = timedelta(minutes=5)


class ActivityInput(BaseModel):
    """An activity report; ``at`` must carry an offset (``Z`` or ``+00:00``), default now."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    at: AwareDatetime | None = None
    source: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")


class StopInput(BaseModel):
    """An operator's stop request."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    reason: str | None = Field(default=None, max_length=200)


def _now() -> datetime:
    return datetime.now(UTC)


def _start_lock(db: rds.Database) -> str:
    return f"database-start#{db.kind}#{db.identifier}"


def _key(db: rds.Database) -> str:
    return store.state_key(db.kind, db.identifier)


def _status_body(db: rds.Database, status: str) -> dict[str, Any]:
    return {"database": db.identifier, "kind": db.kind, "status": status,
            "progress": state.progress(status), "ready": status in state.READY}


# -- start --------------------------------------------------------------------------------------
def start_database(context: Context) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body) of a start request."""
    db = rds.configured()
    status = rds.status(db)
    if status not in state.STARTABLE:
        if status == "stopping":
            raise Conflict("the database is stopping; start it again once it has stopped")
        return 200, _status_body(db, status)
    lock = locks.acquire(_start_lock(db), DatabaseSettings.current().db_start_lock_seconds)  # 409 if held
    restart_id = uuid.uuid4().hex
    now = _now()
    try:
        store.mark_started(_key(db), now, restart_id)
        rds.start(db)
    except rds.WrongState:
        locks.release(lock)
        status = rds.status(db)
        if status == "stopped":
            raise Conflict("the database could not be started yet; try again") from None
        return 200, _status_body(db, status)
    except Exception:
        locks.release(lock)
        raise
    # The lock stays until its TTL (or a stop clears it): RDS may still report "stopped" for a
    # moment, and a second click in that window must not start twice.
    audit.record("database_start", db.identifier, {"restartId": restart_id, "before": status},
                 audit_id=f"database-start:{restart_id}", caller=context.caller)
    context.logger.info("database start requested", extra={"database": db.identifier,
                                                           "restart_id": restart_id})
    return 202, {**_status_body(db, "starting"), "restartId": restart_id}


@router.post("/database/start")
def start_http(context: Context) -> Response:
    """Start the database (202), report it (200) or refuse while a start runs (409)."""
    status, body = start_database(context)
    return Response(status=status, body=body)


# -- status -------------------------------------------------------------------------------------
@router.get("/database/status")
def status_http(context: Context) -> dict[str, Any]:
    """Status, progress (stopped 0, starting 50, available 100) and the auto-stop figures."""
    db = rds.configured()
    status = rds.status(db)
    saved = store.get_state(_key(db))
    settings = DatabaseSettings.current()
    body = _status_body(db, status)
    body["lastActivity"] = state.iso(saved.last_activity) if saved.last_activity else None
    body["startedAt"] = state.iso(saved.started_at) if saved.started_at else None
    body["idleLimitMinutes"] = settings.db_idle_minutes
    body["maxUptimeMinutes"] = settings.db_max_uptime_minutes
    return body


# -- activity -----------------------------------------------------------------------------------
def record(activity: ActivityInput, loc: str) -> dict[str, Any]:
    """Store an activity time (never one in the future) and report the stored one."""
    now = _now()
    at = activity.at.astimezone(UTC) if activity.at else now
    if at > now + FUTURE_SKEW:
        raise ValidationFailed("activity time is in the future", details=[{
            "loc": f"{loc}.at", "msg": "must not be in the future", "type": "future_time"}])
    db = rds.configured()
    advanced = store.record_activity(_key(db), min(at, now))
    saved = store.get_state(_key(db))
    return {"database": db.identifier, "recorded": advanced,
            "lastActivity": state.iso(saved.last_activity) if saved.last_activity else None}


@router.post("/database/activity")
def activity_http(request: HttpRequest) -> dict[str, Any]:
    """Record use; an empty body means "now"."""
    try:
        activity = ActivityInput.model_validate(request.json()) if request.body.strip() \
            else ActivityInput()
    except ValidationError as exc:
        raise validation_error(exc, "body") from None
    return record(activity, "body")


@router.action("record_activity", description="Record database use (optional at, source).")
def activity_action(payload: ActivityInput) -> dict[str, Any]:
    """Record use from a direct invoke."""
    return record(payload, "payload")


# -- stop ---------------------------------------------------------------------------------------
def stop_database(db: rds.Database, reason: str, context: Context,
                  figures: dict[str, Any] | None = None) -> dict[str, Any]:
    """Stop an available database once (a stop lock guards duplicates), audit it, clear the start lock."""
    try:
        lock = locks.acquire(f"database-stop#{db.kind}#{db.identifier}", STOP_LOCK_S)
    except Conflict:
        return {**_status_body(db, rds.status(db)), "stopped": False,
                "message": "a stop is already in progress"}
    try:
        rds.stop(db)
    except rds.WrongState:
        locks.release(lock)
        status = rds.status(db)
        return {**_status_body(db, status), "stopped": False,
                "message": f"the database is {status}; not stopped"}
    now = _now()
    store.mark_stopped(_key(db), now)
    store.clear_lock(_start_lock(db))
    audit.record("database_stop", db.identifier, {"reason": reason, **(figures or {})},
                 audit_id=f"database-stop:{uuid.uuid4().hex}", caller=context.caller)
    context.logger.info("database stopped", extra={"database": db.identifier, "reason": reason})
    return {**_status_body(db, "stopping"), "stopped": True, "reason": reason}


@router.action("stop_database", description="Stop the database now (says so when already stopped).")
def stop_action(payload: StopInput, context: Context) -> dict[str, Any]:
    """An operator's stop."""
    db = rds.configured()
    status = rds.status(db)
    if status in ("stopped", "stopping"):
        return {**_status_body(db, status), "stopped": False,
                "message": f"the database is already {status}"}
    if status != "available":
        raise Conflict(f"the database is {status}; it can be stopped once available")
    return stop_database(db, "operator", context, {"note": payload.reason} if payload.reason else None)


@router.schedule("database-auto-stop", expression="rate(5 minutes)")
def auto_stop(event: ScheduleEvent, context: Context) -> dict[str, Any]:
    """Stop the database when idle or up too long; only ever when available."""
    db = rds.configured()
    status = rds.status(db)
    key = _key(db)
    saved = store.get_state(key)
    now = _now()
    if status == "stopped" and (saved.started_at or saved.observed_at):
        store.mark_stopped(key, now)  # stopped by someone else: forget the old start
    started = saved.started_at or saved.observed_at
    if status == "available" and started is None:
        started = store.mark_observed(key, now)
    settings = DatabaseSettings.current()
    decision = state.decide_stop(
        status, now, last_activity=saved.last_activity, started_at=started,
        idle_limit=timedelta(minutes=settings.db_idle_minutes),
        max_uptime=timedelta(minutes=settings.db_max_uptime_minutes),
    )
    figures = {"idleMinutes": None if decision.idle_minutes is None else round(decision.idle_minutes, 1),
               "upMinutes": None if decision.up_minutes is None else round(decision.up_minutes, 1)}
    if not decision.stop or decision.reason is None:
        return {**_status_body(db, status), "stopped": False, **figures}
    return {**stop_database(db, decision.reason, context, figures), **figures}
