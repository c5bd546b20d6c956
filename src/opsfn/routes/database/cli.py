"""``opsfn db-auto-stop``: what the auto-stop schedule would decide, from the times you give it.

Auto-stop stops an available database idle longer than ``DB_IDLE_MINUTES`` or up longer than
``DB_MAX_UPTIME_MINUTES``. Before changing those, an operator can ask what the rule decides for a
given last activity and start time; nothing calls AWS.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from typing import Any

from opsfn.routes.database.settings import DatabaseSettings
from opsfn.routes.database.state import decide_stop


def _moment(text: str) -> datetime:
    """An ISO 8601 time; without an offset it is UTC (as ``record_activity`` takes it)."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def cmd_db_auto_stop(args: argparse.Namespace) -> int:
    """Print the decision and its figures; exit 0 either way (1 only for bad times)."""
    settings = DatabaseSettings.current()
    try:
        now = _moment(args.now) if args.now else datetime.now(UTC)
        last = _moment(args.last_activity) if args.last_activity else None
        started = _moment(args.started) if args.started else None
    except ValueError as exc:
        print(f"error: not an ISO 8601 time: {exc}")  # noqa: T201
        return 1
    decision = decide_stop(args.status, now, last_activity=last, started_at=started,
                           idle_limit=timedelta(minutes=settings.db_idle_minutes),
                           max_uptime=timedelta(minutes=settings.db_max_uptime_minutes))
    figures = [f"idle {decision.idle_minutes:.1f} min" if decision.idle_minutes is not None
               else "idle unknown",
               f"up {decision.up_minutes:.1f} min" if decision.up_minutes is not None
               else "up unknown"]
    verdict = f"stop ({decision.reason})" if decision.stop else "keep running"
    print(f"{verdict}; {', '.join(figures)}; limits idle {settings.db_idle_minutes} min, "  # noqa: T201
          f"up {settings.db_max_uptime_minutes} min")
    return 0


def register(subparsers: Any) -> None:
    """Add ``db-auto-stop`` to the ``opsfn`` command."""
    parser = subparsers.add_parser(
        "db-auto-stop", help="what auto-stop decides for given times (no AWS call)")
    parser.add_argument("--status", default="available", help="the database status (RDS's word)")
    parser.add_argument("--last-activity", help="ISO 8601 time of the last recorded use")
    parser.add_argument("--started", help="ISO 8601 time the database was started")
    parser.add_argument("--now", help="ISO 8601 time to decide at (default: now)")
    parser.set_defaults(func=cmd_db_auto_stop)
