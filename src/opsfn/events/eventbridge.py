"""EventBridge events: rules, EventBridge Scheduler, and the ``Scheduled Event`` of a rate rule."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from opsfn.events.envelope import Envelope


@dataclass(slots=True)
class EventBridgeEvent(Envelope):
    """An EventBridge event with ``detail`` always a dict (Scheduler sends the string ``"{}"``)."""

    id: str
    source: str
    detail_type: str
    detail: dict[str, Any]
    time: str | None
    resources: list[str]
    account: str | None
    region: str | None


@dataclass(slots=True, unsafe_hash=True)
class ScheduleEvent(Envelope):
    """A schedule firing: ``name`` is the rule or schedule name from the resource ARN."""

    name: str
    id: str
    time: str | None
    source: str


def _detail(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except (ValueError, RecursionError):  # deeply nested JSON exhausts the decoder's stack
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}


def parse_event(event: dict[str, Any]) -> EventBridgeEvent:
    """Normalise an EventBridge event; detection already checked source and detail-type."""
    resources = event.get("resources")
    event_id = event.get("id")
    return EventBridgeEvent(
        id=event_id if isinstance(event_id, str) else "",
        source=str(event.get("source")),
        detail_type=str(event.get("detail-type")),
        detail=_detail(event.get("detail")),
        time=event.get("time") if isinstance(event.get("time"), str) else None,
        resources=[r for r in resources if isinstance(r, str)] if isinstance(resources, list) else [],
        account=event.get("account") if isinstance(event.get("account"), str) else None,
        region=event.get("region") if isinstance(event.get("region"), str) else None,
    )


def schedule_name(event: EventBridgeEvent) -> str | None:
    """The rule (``rule/NAME``) or schedule (``schedule/GROUP/NAME``) name of a schedule event."""
    for arn in event.resources:
        if ":rule/" in arn or ":schedule/" in arn:
            return arn.rsplit("/", 1)[-1]
    return None
