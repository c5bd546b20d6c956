"""The one object of an invocation, and running a route with it.

An :class:`Invocation` is created once per event by :class:`opsfn.core.app.App`. Dispatchers
fill in what each route call offers (its payload, envelope and source), and routes receive the
same object as their context (``Context`` is its public name): remaining time, source, logger,
caller identity, the core settings. It is passed down explicitly, never kept on a class.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from opsfn.aws_errors import from_aws_error
from opsfn.core.access_check import enter_route, leave_route
from opsfn.core.binding import binder_for
from opsfn.core.observability import get_logger, log_unexpected
from opsfn.core.settings import CoreSettings
from opsfn.errors import InternalError, OpsfnError
from opsfn.events.kinds import Kind, Via

if TYPE_CHECKING:
    from opsfn.core.registry import Registry
    from opsfn.core.router import Route

__all__ = ["Context", "Invocation", "remaining_ms", "run_route"]

_DEFAULT_BUDGET_MS = 900_000  # outside Lambda (tests, CLI) there is no deadline: use the maximum


def _no_payload() -> Any:
    return None


class Invocation:
    """State of one Lambda invocation and of the route call it is making now."""

    __slots__ = ("caller", "cold_start", "envelope", "kind", "lambda_context", "payload",
                 "payload_loc", "raw_json", "registry", "request_id", "route", "settings",
                 "source", "started", "stats")

    def __init__(self, registry: Registry, kind: Kind, lambda_context: Any, *, started: float,
                 request_id: str, settings: CoreSettings, cold_start: bool = False) -> None:
        self.registry = registry
        self.kind = kind
        self.lambda_context = lambda_context
        self.started = started
        self.request_id = request_id
        self.settings = settings
        self.cold_start = cold_start
        self.stats: dict[str, list[float]] = {}
        self.caller: str | None = None  # the authenticated caller (a subject or an IAM ARN)
        # The route call in progress (set by run_route):
        self.source: Via = kind  # the path the route's input took (``sqs``, ``sns_sqs``, ...)
        self.route = ""
        self.payload: Callable[[], Any] = _no_payload
        self.payload_loc = "payload"
        self.envelope: Any = None
        self.raw_json: Callable[[], bytes] | None = None  # lets models parse JSON bytes at once

    @property
    def logger(self) -> Any:
        """The shared structured logger (never log bodies, keys from users or secrets)."""
        return get_logger()

    def remaining_ms(self) -> int:
        """Milliseconds until the Lambda deadline."""
        return remaining_ms(self.lambda_context, self.started)

    def served(self) -> dict[str, Any]:
        """What the application serves: its routes counted per source, and the trigger settings
        (a bucket, a queue, a topic a route names) that are not set."""
        registry = self.registry
        return {"routes": registry.counts(), "unresolved_settings": sorted(set(
            registry.s3.unresolved() + registry.sqs.unresolved() + registry.sns.unresolved()))}


Context = Invocation


def remaining_ms(lambda_context: Any, started: float) -> int:
    """Milliseconds left, for code that has only the Lambda context."""
    getter = getattr(lambda_context, "get_remaining_time_in_millis", None)
    if callable(getter):
        try:
            return int(getter())
        except (TypeError, ValueError):
            pass
    elapsed = (time.monotonic() - started) * 1000 if started else 0.0
    return int(_DEFAULT_BUDGET_MS - elapsed)


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
    from opsfn.core.observability import get_tracer

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
