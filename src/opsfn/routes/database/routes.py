"""The dashboard's database, running only while used: start, status, activity, stop, auto-stop.

``POST /database/start`` (and the action ``start_database``) answers 202 with a restart id when it
starts the database, 200 with the status when it is already available or starting, and 409 while
another start holds the start lock. ``GET /database/status`` and ``database_status`` answer the
same body. The schedule ``database-auto-stop`` stops it when idle (the latest of the configured
activity signals, see :mod:`signals`) or up too long, only when ``available``.

Locks end with what they guard: the stop lock is released once the stop is issued, and the start
lock is cleared when a stop of ours is issued, or when status, start or auto-stop see the
database stopped after DB_START_SETTLE_SECONDS (before that, "stopped" is RDS lagging behind).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from opsfn import Context, Router
from opsfn.access import ANY, allow, arn_pattern, table
from opsfn.errors import Conflict, ValidationFailed
from opsfn.events import HttpRequest, Response, ScheduleEvent
from opsfn.routes.database import rds, signals, state, store
from opsfn.routes.database.settings import DatabaseSettings
from opsfn.services import audit, locks

router = Router(auth="default")  # operator routes: the deployment's default authorizer

STOP_LOCK_S = 300
FUTURE_SKEW = timedelta(minutes=5)


class ActivityInput(BaseModel):
    """An activity report: when the database was used (default now) and by what."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    at: datetime | None = Field(
        default=None,
        description="When the database was used, ISO 8601. A time without an offset is taken as "
                    "UTC (what datetime.utcnow().isoformat() writes). Default: now.")
    source: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")

    @field_validator("at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class StopInput(BaseModel):
    """An operator's stop request."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    reason: str | None = Field(default=None, max_length=200)


# The database is an instance or a cluster, whichever is configured.
_INSTANCE = arn_pattern("arn:{partition}:rds:{region}:{account}:db:{DB_INSTANCE_ID}")
_CLUSTER = arn_pattern("arn:{partition}:rds:{region}:{account}:cluster:{DB_CLUSTER_ID}")
READ = [allow("rds:DescribeDBInstances", on=_INSTANCE), allow("rds:DescribeDBClusters", on=_CLUSTER),
        # its state (last start, use, stop) lives in the lock table, beside its locks
        allow("dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
              on=table("LOCK_TABLE"))]
START = [*READ, *locks.ACCESS, *audit.ACCESS, allow("rds:StartDBInstance", on=_INSTANCE),
         allow("rds:StartDBCluster", on=_CLUSTER)]
STOP = [*READ, *locks.ACCESS, *audit.ACCESS, allow("rds:StopDBInstance", on=_INSTANCE),
        allow("rds:StopDBCluster", on=_CLUSTER)]
SIGNALS = [allow("dynamodb:GetItem", on=table("DB_ACTIVITY_TABLE")),
           allow("cloudwatch:GetMetricStatistics", on=ANY, if_set=("DB_INSTANCE_ID", "DB_CLUSTER_ID"),
                 name="ConnectionsMetricHasNoResourceLevelPermissions",
                 why="CloudWatch metric reads have no resource-level permission")]


def _now() -> datetime:
    return datetime.now(UTC)


def _start_lock(db: rds.Database) -> str:
    return f"database-start#{db.kind}#{db.identifier}"


def _key(db: rds.Database) -> str:
    return store.state_key(db.kind, db.identifier)


def _status_body(db: rds.Database, status: str) -> dict[str, Any]:
    return {"database": db.identifier, "kind": db.kind, "status": status,
            "progress": state.progress(status), "ready": status in state.READY}


def _settle_stopped(db: rds.Database, status: str, saved: store.DbState, now: datetime) -> None:
    """Seen stopped: forget our start and clear its lock, unless the start is too recent to tell
    a stopped database from RDS not yet showing the start."""
    if status != "stopped":
        return
    settle = timedelta(seconds=DatabaseSettings.current().db_start_settle_seconds)
    if saved.started_at is not None and now - saved.started_at < settle:
        return
    if saved.started_at or saved.observed_at:
        store.mark_stopped(_key(db), now)
    store.clear_lock(_start_lock(db))


# -- start --------------------------------------------------------------------------------------
def start_database(context: Context) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body) of a start request."""
    db = rds.configured()
    status = rds.status(db)
    if status not in state.STARTABLE:
        if status == "stopping":
            raise Conflict("the database is stopping; start it again once it has stopped")
        return 200, _status_body(db, status)
    _settle_stopped(db, status, store.get_state(_key(db)), _now())
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
    # The lock stays until the database is seen stopped again (or its TTL): RDS may still report
    # "stopped" for a moment, and a second click in that window must not start twice.
    audit.record("database_start", db.identifier, {"restartId": restart_id, "before": status},
                 audit_id=f"database-start:{restart_id}", caller=context.caller)
    context.logger.info("database start requested", extra={"database": db.identifier,
                                                           "restart_id": restart_id})
    return 202, {**_status_body(db, "starting"), "restartId": restart_id}


@router.post("/database/start", access=START)
def start_http(context: Context) -> Response:
    """Start the database (202), report it (200) or refuse while a start runs (409)."""
    status, body = start_database(context)
    return Response(status=status, body=body)


@router.action("start_database", description="Start the database; the body POST /database/start answers.",
               access=START)
def start_action(context: Context) -> dict[str, Any]:
    """Start from a direct invoke: ``starting`` with a restartId, or the status when already up."""
    return start_database(context)[1]


# -- status -------------------------------------------------------------------------------------
def database_status() -> dict[str, Any]:
    """Status, progress (stopped 0, starting 50, available 100) and the auto-stop figures."""
    db = rds.configured()
    status = rds.status(db)
    saved = store.get_state(_key(db))
    _settle_stopped(db, status, saved, _now())
    settings = DatabaseSettings.current()
    body = _status_body(db, status)
    body["lastActivity"] = state.iso(saved.last_activity) if saved.last_activity else None
    body["startedAt"] = state.iso(saved.started_at) if saved.started_at else None
    body["idleLimitMinutes"] = settings.db_idle_minutes
    body["maxUptimeMinutes"] = settings.db_max_uptime_minutes
    return body


@router.get("/database/status", access=READ)
def status_http() -> dict[str, Any]:
    """Status, progress (stopped 0, starting 50, available 100) and the auto-stop figures."""
    return database_status()


@router.action("database_status", description="The body GET /database/status answers.",
               access=READ)
def status_action() -> dict[str, Any]:
    """Status from a direct invoke."""
    return database_status()


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


@router.post("/database/activity", access=READ)
def activity_http(request: HttpRequest) -> dict[str, Any]:
    """Record use; an empty body means "now"."""
    try:
        activity = ActivityInput.model_validate(request.json()) if request.body.strip() \
            else ActivityInput()
    except ValidationError as exc:
        raise ValidationFailed.from_pydantic(exc, "body") from None
    return record(activity, "body")


@router.action("record_activity", description="Record database use (optional at, source).",
               access=READ)
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
        status = rds.status(db)
        return {**_status_body(db, status), "stopped": False,
                "message": f"the database is {status}; not stopped"}
    finally:
        locks.release(lock)  # the lock guards issuing the stop, not the stop RDS then runs
    now = _now()
    store.mark_stopped(_key(db), now)
    store.clear_lock(_start_lock(db))
    audit.record("database_stop", db.identifier, {"reason": reason, **(figures or {})},
                 audit_id=f"database-stop:{uuid.uuid4().hex}", caller=context.caller)
    context.logger.info("database stopped", extra={"database": db.identifier, "reason": reason})
    return {**_status_body(db, "stopping"), "stopped": True, "reason": reason}


@router.action("stop_database", description="Stop the database now (says so when already stopped).",
               access=STOP)
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


def latest_activity(db: rds.Database, saved: store.DbState, now: datetime,
                    window: timedelta) -> tuple[datetime | None, dict[str, str | None]]:
    """The latest time any configured signal saw use, and each signal's own time."""
    seen: dict[str, datetime | None] = {}
    for name in signals.configured():
        if name == signals.RECORD:
            seen[name] = saved.last_activity
        elif name == signals.TABLE:
            seen[name] = signals.table_activity()
        else:
            seen[name] = signals.connections_activity(db, now, window)
    times = [moment for moment in seen.values() if moment is not None]
    return (max(times) if times else None,
            {name: state.iso(moment) if moment else None for name, moment in seen.items()})


@router.schedule("database-auto-stop", expression="rate(5 minutes)", access=[*STOP, *SIGNALS])
def auto_stop(event: ScheduleEvent, context: Context) -> dict[str, Any]:
    """Stop the database when idle or up too long; only ever when available."""
    db = rds.configured()
    status = rds.status(db)
    key = _key(db)
    saved = store.get_state(key)
    now = _now()
    _settle_stopped(db, status, saved, now)  # stopped by someone else: forget the old start
    if status == "stopped":
        return {**_status_body(db, status), "stopped": False, "idleMinutes": None,
                "upMinutes": None}
    started = saved.started_at or saved.observed_at
    if status == "available" and started is None:
        started = store.mark_observed(key, now)
    settings = DatabaseSettings.current()
    idle_limit = timedelta(minutes=settings.db_idle_minutes)
    last_activity, activity = (latest_activity(db, saved, now, idle_limit)
                               if status == "available" else (None, {}))
    decision = state.decide_stop(
        status, now, last_activity=last_activity, started_at=started, idle_limit=idle_limit,
        max_uptime=timedelta(minutes=settings.db_max_uptime_minutes),
    )
    figures: dict[str, Any] = {
        "idleMinutes": None if decision.idle_minutes is None else round(decision.idle_minutes, 1),
        "upMinutes": None if decision.up_minutes is None else round(decision.up_minutes, 1)}
    if activity:
        figures["activity"] = activity
    if not decision.stop or decision.reason is None:
        return {**_status_body(db, status), "stopped": False, **figures}
    return {**stop_database(db, decision.reason, context, figures), **figures}
