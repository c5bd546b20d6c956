"""Pure database-lifecycle rules: progress per status, aware times, and when to auto-stop.

All times are timezone-aware UTC. The original compared a naive ``utcnow()`` with parsed values
and stopped reporting "never" when no activity had been recorded; here a missing activity record
counts from the start time, and a missing start time from when the database was first seen up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

PROGRESS: dict[str, int] = {
    "stopped": 0,
    "stopping": 25,
    "starting": 50,
    "rebooting": 50,
    "configuring-enhanced-monitoring": 75,
    "configuring-iam-database-auth": 75,
    "configuring-log-exports": 75,
    "modifying": 75,
    "upgrading": 75,
    "renaming": 75,
    "resetting-master-credentials": 75,
    "available": 100,
    "backing-up": 100,
    "maintenance": 100,
    "storage-optimization": 100,
    "backtracking": 75,
}
READY = frozenset({"available", "backing-up", "maintenance", "storage-optimization"})
STARTABLE = frozenset({"stopped"})


def progress(status: str) -> int:
    """How far towards usable the database is (0 stopped .. 100 available); unknown is 0."""
    return PROGRESS.get(status, 0)


def iso(moment: datetime) -> str:
    """UTC ISO-8601 with a ``Z`` suffix."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class StopDecision:
    """Whether to stop, why, and the figures behind it (minutes)."""

    stop: bool
    reason: str | None
    idle_minutes: float | None
    up_minutes: float | None


def decide_stop(status: str, now: datetime, *, last_activity: datetime | None,
                started_at: datetime | None, idle_limit: timedelta,
                max_uptime: timedelta) -> StopDecision:
    """Stop when available and idle longer than ``idle_limit`` or up longer than ``max_uptime``.

    Idle time runs from the latest of the last activity and the start; with neither known there
    is nothing to measure from, and the caller records "first seen up" so the next run can.
    """
    if status != "available":
        return StopDecision(False, None, None, None)
    up = (now - started_at) if started_at else None
    references = [t for t in (last_activity, started_at) if t is not None]
    idle = (now - max(references)) if references else None
    up_minutes = up.total_seconds() / 60 if up is not None else None
    idle_minutes = idle.total_seconds() / 60 if idle is not None else None
    if up is not None and up > max_uptime:
        return StopDecision(True, "max_uptime", idle_minutes, up_minutes)
    if idle is not None and idle > idle_limit:
        return StopDecision(True, "idle", idle_minutes, up_minutes)
    return StopDecision(False, None, idle_minutes, up_minutes)
