"""Pure rules of the on-demand database without AWS: activity times and auto-stop decisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from opsfn.routes.database import state
from opsfn.routes.database.routes import ActivityInput

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("text", ["2026-11-23T10:00:00Z", "2026-11-23T10:00:00+00:00",
                                  "2026-11-23T12:00:00+02:00"])
def test_activity_time_accepts_offsets(text: str) -> None:
    at = ActivityInput.model_validate({"at": text}).at
    assert at is not None and at.astimezone(UTC) == datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def test_activity_time_without_offset_is_utc() -> None:
    at = ActivityInput.model_validate({"at": "2026-11-23T10:00:00"}).at
    assert at == datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    with pytest.raises(ValidationError):
        ActivityInput.model_validate({"at": "23/11/2026 10:00"})


def decide(status: str = "available", activity: float | None = None,
           started: float | None = None) -> state.StopDecision:
    return state.decide_stop(
        status, NOW,
        last_activity=NOW - timedelta(minutes=activity) if activity is not None else None,
        started_at=NOW - timedelta(minutes=started) if started is not None else None,
        idle_limit=timedelta(minutes=60), max_uptime=timedelta(minutes=240))


def test_decisions() -> None:
    assert decide(activity=61, started=100).reason == "idle"
    assert not decide(activity=59, started=100).stop
    assert decide(activity=1, started=241).reason == "max_uptime"
    assert decide(started=61).reason == "idle"  # no activity: counts from the start
    assert not decide(started=59).stop
    assert not decide().stop  # nothing to measure from (the caller records "first seen")
    assert not decide("starting", activity=500, started=500).stop
    assert decide(activity=500, started=30).idle_minutes == 30  # a start refreshes idleness
