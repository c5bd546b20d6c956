"""The one object of an invocation.

An :class:`Invocation` is created once per event by :class:`opsfn.core.app.App`. Dispatchers
fill in what each route call offers (its payload, envelope and source), and routes receive the
same object as their context (``Context`` is its public name): remaining time, source, logger,
caller identity, the core settings. It is passed down explicitly, never kept on a class.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from opsfn.core.observability import get_logger
from opsfn.core.settings import CoreSettings
from opsfn.events.kinds import Kind, Via

if TYPE_CHECKING:
    from opsfn.core.registry import Registry

__all__ = ["Context", "Invocation", "remaining_ms"]

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
