"""Calling one route: bind its arguments, run it, count it, and type whatever it raises.

Kept apart from :mod:`opsfn.core.invocation` so that the binder can know the context type
(:class:`~opsfn.core.invocation.Invocation`) without the invocation knowing the binder.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from opsfn.aws_errors import from_aws_error
from opsfn.core.access_check import enter_route, leave_route
from opsfn.core.binding import binder_for
from opsfn.core.invocation import Invocation
from opsfn.core.observability import get_tracer, log_unexpected
from opsfn.errors import InternalError, OpsfnError
from opsfn.events.kinds import Via

if TYPE_CHECKING:
    from opsfn.core.router import Route

__all__ = ["as_opsfn_error", "run_route"]


def as_opsfn_error(exc: Exception, route: Route) -> OpsfnError:
    """Map an exception from a route to the error a caller may see."""
    if isinstance(exc, OpsfnError):
        return exc
    mapped = from_aws_error(exc)
    if mapped is not None:
        return mapped
    log_unexpected(exc, route.label)
    return InternalError("internal error")


def _traced(route: Route, kwargs: dict[str, Any]) -> Any:
    """Call the route inside an X-Ray subsegment annotated with its label."""

    with get_tracer().provider.in_subsegment(f"## {route.label}") as subsegment:
        subsegment.put_annotation(key="route", value=route.label)
        return route.func(**kwargs)


def run_route(route: Route, invocation: Invocation, payload: Callable[[], Any], payload_loc: str,
              envelope: Any = None, *, source: Via | None = None,
              raw_json: Callable[[], bytes] | None = None) -> Any:
    """Call ``route`` with what this source offers; raises only OpsfnError subclasses."""
    invocation.source = source or invocation.kind
    invocation.route = route.label
    invocation.payload = payload
    invocation.payload_loc = payload_loc
    invocation.envelope = envelope
    invocation.raw_json = raw_json
    started = time.perf_counter()
    failed = True
    token = enter_route(route)  # its AWS calls are held to its access= declarations
    try:
        kwargs = binder_for(route).bind(invocation)
        result = _traced(route, kwargs) if invocation.settings.tracing else route.func(**kwargs)
        failed = False
        return result
    except Exception as exc:  # noqa: BLE001 - every failure becomes a typed error below
        raise as_opsfn_error(exc, route) from None
    finally:
        leave_route(token)
        entry = invocation.stats.get(route.label)
        if entry is None:
            entry = invocation.stats[route.label] = [0, 0, 0.0]
        entry[0] += 1
        entry[1] += failed
        entry[2] += (time.perf_counter() - started) * 1000
