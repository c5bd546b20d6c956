"""The application: routers included into one registry, and the Lambda entry point's logic.

``App.__call__(event, context)`` is what ``lambda_handler`` runs: detect the kind, dispatch to the
kind's dispatcher, emit per-route metrics. Nothing but :class:`OpsfnError` subclasses escapes it,
and an error's traceback never carries the original exception (its message may hold data).

An application combines opsfn's built-in routes (``opsfn.builtin``) with its own:
``App([builtin(), router])``, or ``App([builtin("health"), ("/clinic", router)])`` to serve some
built-in domains and put a router's HTTP paths under a prefix. The built-ins are registered from
the route manifest without importing their modules; an application's own routers are registered
as they are.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from opsfn.core.binding import binder_for
from opsfn.core.dead_letters import park
from opsfn.core.invocation import Invocation
from opsfn.core.observability import (
    emit_route_metrics,
    get_logger,
    reset_invocation_keys,
    safe_frames,
    set_invocation_keys,
)
from opsfn.core.registry import Registry
from opsfn.core.router import HttpSpec, Route, Router
from opsfn.core.settings import core_settings
from opsfn.errors import InternalError, InvalidSetting, OpsfnError
from opsfn.events.detect import HTTP_KINDS, detect
from opsfn.lazy import load

Dispatcher = Callable[[dict[str, Any], Invocation], Any]
Observer = Callable[[Invocation], None]
Included = Router | tuple[str, Router]

# Sources whose failures only Lambda's retries see (a direct invoke may be synchronous: its
# caller needs the error, so it is always raised).
ASYNC_KINDS = frozenset({"s3", "s3_eventbridge", "sns", "schedule", "eventbridge", "ses"})

# Each kind's dispatcher (a reference, opsfn.lazy), imported on the first event of that kind: a
# cold start loads one source's dispatch and envelope modules.
_HOME = "opsfn.core.dispatch."
DISPATCH_HOMES: dict[str, str] = {
    "http_v1": f"{_HOME}http:dispatch", "http_v2": f"{_HOME}http:dispatch",
    "function_url": f"{_HOME}http:dispatch", "alb": f"{_HOME}http:dispatch",
    "invoke": f"{_HOME}invoke:dispatch", "s3": f"{_HOME}records:dispatch_s3",
    "s3_eventbridge": f"{_HOME}records:dispatch_s3_eventbridge",
    "sqs": f"{_HOME}records:dispatch_sqs", "sns": f"{_HOME}records:dispatch_sns",
    "schedule": f"{_HOME}events:dispatch_schedule",
    "eventbridge": f"{_HOME}events:dispatch_eventbridge",
    "custom_resource": f"{_HOME}custom_resource:dispatch", "ses": f"{_HOME}ses:dispatch_ses",
}
_DISPATCHERS: dict[str, Dispatcher] = {}

EMPTY_EVENT_SETTING = "OPSFN_EMPTY_EVENT_ACTION"  # the action an empty event ``{}`` runs


def dispatcher(kind: str) -> Dispatcher:
    """The dispatcher of ``kind``, imported once."""
    found = _DISPATCHERS.get(kind)
    if found is None:
        found = _DISPATCHERS[kind] = load(DISPATCH_HOMES[kind])
    return found


def _request_id(kind: str, event: dict[str, Any], lambda_request_id: str | None) -> str:
    """The id that correlates log lines: the API's request id for HTTP, else Lambda's."""
    if kind in HTTP_KINDS:
        context = event.get("requestContext")
        value = context.get("requestId") if isinstance(context, dict) else None
        if value is None and kind == "alb":
            headers = event.get("headers")
            value = headers.get("x-amzn-trace-id") if isinstance(headers, dict) else None
        if isinstance(value, str) and value:
            return value
    return lambda_request_id or ""


def prefixed(prefix: str, path: str) -> str:
    """``path`` under ``prefix`` (``/clinic`` + ``/referrals`` -> ``/clinic/referrals``)."""
    if not prefix.startswith("/") or prefix.endswith("/") or "{" in prefix or "}" in prefix:
        raise ValueError(f"a prefix starts with '/', does not end with one and has no "
                         f"parameters: {prefix!r}")
    return prefix if path == "/" else prefix + path


class App(Router):
    """Routers included into one registry. Routes declared on the app itself are indexed at once.

    ``routers`` are :class:`Router` objects, or ``(prefix, router)`` pairs whose HTTP paths go
    under ``prefix``. A key declared twice (an action name, a method and path) raises ValueError
    when the app is built.
    """

    def __init__(self, routers: Iterable[Included] | None = None) -> None:
        super().__init__()
        self.registry = Registry()
        self.observers: list[Observer] = []
        self._cold = True
        for item in routers or []:
            if isinstance(item, tuple):
                prefix, router = item
                self.include(router, prefix=prefix)
            else:
                self.include(item)

    def _add(self, route: Route) -> None:
        super()._add(route)
        self.registry.add(route)

    def warm_up(self) -> list[str]:
        """Import every dispatcher and route module and build each binder, as a SnapStart
        snapshot should hold them; returns the modules imported."""
        before = set(sys.modules)
        for kind in DISPATCH_HOMES:
            dispatcher(kind)
        for route in self.registry.routes:
            binder_for(route)
        return sorted(set(sys.modules) - before)

    def mark_cold(self) -> None:
        """The next call is the first of an environment (a SnapStart restore)."""
        self._cold = True

    def include(self, router: Router, *, prefix: str = "") -> None:
        """Add every route of ``router`` (HTTP paths under ``prefix`` when given)."""
        for route in router.routes:
            spec = route.spec
            if prefix and isinstance(spec, HttpSpec):
                self._add(Route(route.source, replace(spec, path=prefixed(prefix, spec.path)),
                                route.func, access=route.access))
            else:
                self._add(route)

    def observe(self, observer: Observer) -> None:
        """Call ``observer`` with each invocation once its event is done (the local stack's
        activity panel uses it); an observer's failure never reaches the caller."""
        self.observers.append(observer)

    def __call__(self, event: Any, lambda_context: Any = None) -> Any:
        started = time.monotonic()
        cold, self._cold = self._cold, False
        kind = "unknown"
        invocation: Invocation | None = None
        # Lambda's request id on every line of the call, even one logged before detection (the
        # key Powertools' inject_lambda_context adds), so a line is found from the REPORT line.
        lambda_request_id = getattr(lambda_context, "aws_request_id", None)
        if not isinstance(lambda_request_id, str):
            lambda_request_id = None
        call_keys: dict[str, Any] = {"cold_start": cold, "function_request_id": lambda_request_id}
        keys = set_invocation_keys(call_keys)
        try:
            if not event and isinstance(event, dict):  # {}: only then is the setting read
                event = self.empty_event()
            detected = detect(event)
            kind = detected.kind
            invocation = Invocation(
                self.registry, kind, lambda_context, started=started,
                request_id=_request_id(kind, detected.event, lambda_request_id),
                settings=core_settings(), cold_start=cold)
            call_keys["source"] = kind  # the lines of the call carry them from here on
            call_keys["correlation_id"] = invocation.request_id or None
            return dispatcher(kind)(detected.event, invocation)
        except OpsfnError as error:
            if kind in ASYNC_KINDS and invocation is not None and park(
                    kind, event, error, invocation.settings.failed_events_queue):
                return {"parked": True, "error": error.code}
            self._log_failure(error, kind, cold)
            raise _clean(error) from None
        except Exception as exc:  # noqa: BLE001 - a dispatcher bug must not leak its message
            get_logger().error("dispatch failed", extra={
                "source": kind, "error_type": type(exc).__name__, "frames": safe_frames(exc),
            })
            raise InternalError("internal error") from None
        finally:
            if invocation is not None and invocation.stats and \
                    not invocation.settings.metrics_disabled:
                try:
                    emit_route_metrics(invocation.stats)
                except Exception:  # noqa: BLE001, S110 - metrics must never fail a request
                    pass
            reset_invocation_keys(keys)
            if self.observers and invocation is not None:
                self._notify(invocation)

    def empty_event(self) -> dict[str, Any]:
        """What an empty direct invoke ``{}`` stands for: ``{"action": OPSFN_EMPTY_EVENT_ACTION}``
        when that setting names a registered action, else ``{}`` itself (refused by detection).

        For callers that cannot send an action (a dashboard's ``Payload=json.dumps({})``, a CDK
        trigger). A name that is no registered action is :class:`InvalidSetting`, raised before
        anything runs.
        """
        name = core_settings().empty_event_action
        if not name:
            return {}
        if name not in self.registry.actions:
            raise InvalidSetting([EMPTY_EVENT_SETTING])
        return {"action": name}

    def _notify(self, invocation: Invocation) -> None:
        for observer in self.observers:
            try:
                observer(invocation)
            except Exception:  # noqa: BLE001, S110 - an observer must never fail a request
                pass

    @staticmethod
    def _log_failure(error: OpsfnError, kind: str, cold: bool) -> None:
        if kind in HTTP_KINDS:
            return
        get_logger().warning("event failed", extra={
            "source": kind, **error.log_fields(), "permanent": error.permanent, "cold_start": cold,
        })


def _clean(error: OpsfnError) -> OpsfnError:
    """Drop chained causes so the runtime's error reply shows only the typed error."""
    error.__cause__ = None
    error.__context__ = None
    error.__traceback__ = None
    return error
