"""Schedules and EventBridge rules: one event, one route; failures raise for Lambda's retries."""

from __future__ import annotations

from typing import Any

from opsfn.core.invocation import Invocation
from opsfn.core.route_call import run_route
from opsfn.errors import NotFound
from opsfn.events.eventbridge import ScheduleEvent, parse_event, schedule_name
from opsfn.events.jsonable import to_jsonable


def dispatch_schedule(event: dict[str, Any], invocation: Invocation) -> dict[str, Any]:
    """Run the schedule named by the rule or schedule ARN (a configured prefix is stripped)."""
    parsed = parse_event(event)
    name = schedule_name(parsed)
    if name is None:
        raise NotFound("schedule event names no rule or schedule")
    route = invocation.registry.schedules.get(name)
    prefix = invocation.settings.schedule_prefix if route is None else ""
    if route is None and prefix and name.startswith(prefix):
        route = invocation.registry.schedules.get(name[len(prefix):])
    if route is None:
        raise NotFound(f"no schedule route named {name[:128]!r}")
    schedule = ScheduleEvent(name=name, id=parsed.id, time=parsed.time, source=parsed.source)
    result = run_route(route, invocation, lambda: parsed.detail, "detail", schedule)
    return {"schedule": route.label, "result": to_jsonable(result)}


def dispatch_eventbridge(event: dict[str, Any], invocation: Invocation
                         ) -> dict[str, Any]:
    """Run the route declared for the event's source and detail-type."""
    parsed = parse_event(event)
    route = invocation.registry.eventbridge_route(parsed.source, parsed.detail_type)
    if route is None:
        raise NotFound(f"no EventBridge route for source {parsed.source[:64]!r}")
    result = run_route(route, invocation, lambda: parsed.detail, "detail", parsed)
    return {"eventbridge": route.label, "result": to_jsonable(result)}
