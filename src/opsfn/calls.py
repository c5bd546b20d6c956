"""Run one route: bind, call, time it, and turn whatever it raises into an OpsfnError."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from opsfn.binding import CallInput, binder_for
from opsfn.config.core import CoreSettings
from opsfn.context import Context
from opsfn.errors import InternalError, OpsfnError, UpstreamError
from opsfn.observability import log_unexpected
from opsfn.router import Route


@dataclass(slots=True)
class Invocation:
    """State of one Lambda invocation, passed down explicitly (never kept on a class)."""

    app: Any
    kind: str
    lambda_context: Any
    started: float
    request_id: str
    settings: CoreSettings
    cold_start: bool = False
    stats: dict[str, list[float]] = field(default_factory=dict)

    def context_for(self, route: Route, source: str | None = None) -> Context:
        """The Context a route of this invocation receives."""
        return Context(source or self.kind, route.label, self.request_id, self.lambda_context,
                       self.started, self.app, self.cold_start)


def as_opsfn_error(exc: Exception, route: Route) -> OpsfnError:
    """Map an exception from a route to the error a caller may see."""
    if isinstance(exc, OpsfnError):
        return exc
    response = getattr(exc, "response", None)
    operation = getattr(exc, "operation_name", None)
    if isinstance(response, dict) and isinstance(operation, str):
        # botocore ClientError: the service's error code is safe to show, its message may not be.
        code = str(response.get("Error", {}).get("Code", "Unknown"))[:64]
        error = UpstreamError(f"AWS {operation} failed: {code}")
        error.permanent = code in ("AccessDenied", "AccessDeniedException", "ValidationException")
        return error
    if type(exc).__module__.startswith(("botocore", "urllib3")):
        return UpstreamError(f"AWS call failed: {type(exc).__name__}")
    log_unexpected(exc, route.label)
    return InternalError("internal error")


def _traced(route: Route, kwargs: dict[str, Any]) -> Any:
    """Call the route inside an X-Ray subsegment annotated with its label."""
    from opsfn.observability import get_tracer

    with get_tracer().provider.in_subsegment(f"## {route.label}") as subsegment:
        subsegment.put_annotation(key="route", value=route.label)
        return route.func(**kwargs)


def run_route(route: Route, call: CallInput, invocation: Invocation) -> Any:
    """Call ``route`` with ``call``; raises only OpsfnError subclasses."""
    started = time.perf_counter()
    failed = True
    try:
        kwargs = binder_for(route).bind(call)
        result = _traced(route, kwargs) if invocation.settings.tracing else route.func(**kwargs)
        failed = False
        return result
    except Exception as exc:  # noqa: BLE001 - every failure becomes a typed error below
        raise as_opsfn_error(exc, route) from None
    finally:
        entry = invocation.stats.get(route.label)
        if entry is None:
            entry = invocation.stats[route.label] = [0, 0, 0.0]
        entry[0] += 1
        entry[1] += failed
        entry[2] += (time.perf_counter() - started) * 1000
