"""Structured logs and per-route metrics, created on first use so imports stay cheap.

Log lines carry the route, the source and the request id; never an event, a body, an object key
from a user or a secret. Metrics go out as CloudWatch EMF documents in the namespace
``POWERTOOLS_METRICS_NAMESPACE`` (default ``opsfn``) with the service ``POWERTOOLS_SERVICE_NAME``:
``Invocations``, ``Errors`` and ``Duration`` per ``route``, and ``CustomResourceAnswersUndelivered``.

The keys of one invocation (source, correlation id, cold start) live in a context variable, not
in the logger: a host that runs several calls at once in threads (or tasks) logs each call's lines
with that call's keys.
"""

from __future__ import annotations

import contextvars
import json
import os
import sys
import time
import traceback
from functools import lru_cache
from pathlib import Path
from typing import Any

from opsfn.core.settings import core_settings

SERVICE = "opsfn"  # defaults when POWERTOOLS_SERVICE_NAME / POWERTOOLS_METRICS_NAMESPACE are unset
NAMESPACE = "opsfn"
UNDELIVERED_ANSWERS = "CustomResourceAnswersUndelivered"

_invocation_keys: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "opsfn_invocation_keys", default=None)
_logger: list[Any] = []


def service_name() -> str:
    """The service every log line and metric names (Powertools' variable)."""
    return os.environ.get("POWERTOOLS_SERVICE_NAME") or SERVICE


def metrics_namespace() -> str:
    """The CloudWatch namespace of the metrics (Powertools' variable)."""
    return os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or NAMESPACE


def set_invocation_keys(keys: dict[str, Any]) -> contextvars.Token[dict[str, Any] | None]:
    """Keys every log line of this call carries (cold start, source, correlation id).

    They are set in the caller's context only: another thread's call, or a log line after
    :func:`reset_invocation_keys`, never sees them. Nothing is built here: the logger (and the
    ``logging`` module) waits until something logs. The dict is the call's own: keys added to it
    later (the source, once detected) are on every later line.
    """
    return _invocation_keys.set(keys)


def reset_invocation_keys(token: contextvars.Token[dict[str, Any] | None]) -> None:
    """Forget the keys :func:`set_invocation_keys` set (the end of the call)."""
    _invocation_keys.reset(token)


def invocation_keys() -> dict[str, Any]:
    """The keys of the call running in this context (empty outside one)."""
    return dict(_invocation_keys.get() or {})


class _InvocationKeysFilter:
    """Adds the current call's keys to each record (a key the line sets itself wins)."""

    def filter(self, record: Any) -> bool:
        keys = _invocation_keys.get()
        if keys:
            fields = record.__dict__
            for key, value in keys.items():
                if key not in fields:
                    fields[key] = value
        return True


def get_logger() -> Any:
    """The service's JSON logger; its lines carry the current call's keys."""
    if not _logger:
        from opsfn.core.jsonlog import JsonLogger  # logging and json load with the first line

        _logger.append(JsonLogger(service_name(), _InvocationKeysFilter()))
    return _logger[0]


@lru_cache(maxsize=1)
def get_tracer() -> Any:
    """The Powertools tracer; only built when tracing is enabled (it is costly to import)."""
    from aws_lambda_powertools import Tracer

    return Tracer(service=service_name())


def safe_frames(exc: BaseException, limit: int = 12) -> list[str]:
    """The traceback as ``file:line in function`` only: messages can hold data, frames cannot."""
    frames = traceback.extract_tb(exc.__traceback__)[-limit:]
    return [f"{Path(f.filename).name}:{f.lineno} in {f.name}" for f in frames]


def log_unexpected(exc: BaseException, route: str) -> None:
    """Log an unexpected exception by type and frames, without its message."""
    get_logger().error(
        "route raised an unexpected error",
        extra={"route": route, "error_type": type(exc).__name__, "frames": safe_frames(exc)},
    )


def _metrics_disabled() -> bool:
    """Powertools' switch, as the core settings read it (cached until the variable changes)."""
    return core_settings().metrics_disabled


def emf_document(route: str, count: float, errors: float, duration_ms: float,
                 timestamp_ms: int) -> dict[str, Any]:
    """A CloudWatch embedded-metric-format document for one route (dimensions route, service)."""
    return {
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": metrics_namespace(),
                "Dimensions": [["route", "service"]],
                "Metrics": [{"Name": "Invocations", "Unit": "Count"},
                            {"Name": "Errors", "Unit": "Count"},
                            {"Name": "Duration", "Unit": "Milliseconds"}],
            }],
        },
        "route": route[:250],
        "service": service_name(),
        "Invocations": count,
        "Errors": errors,
        "Duration": round(duration_ms, 3),
    }


def emit_route_metrics(stats: dict[str, list[float]]) -> None:
    """Print one EMF document per route that ran in this invocation.

    The format is the one Powertools' metrics provider writes; building it directly costs a few
    microseconds instead of the provider's ~80 (unit and resolution validation on every call),
    which would otherwise be the largest part of a light invocation. ``POWERTOOLS_METRICS_DISABLED``
    is honoured the same way.
    """
    if not stats or _metrics_disabled():
        return
    timestamp_ms = int(time.time() * 1000)
    lines = [json.dumps(emf_document(route, count, errors, duration, timestamp_ms),
                        separators=(",", ":"))
             for route, (count, errors, duration) in stats.items()]
    sys.stdout.write("\n".join(lines) + "\n")


def emit_count(metric: str, value: float = 1, **dimensions: str) -> None:
    """One EMF document with a count metric for the service (dimension ``service``, plus any
    fixed-word ``dimensions`` given), so an alarm can watch it without knowing routes. Honours
    ``POWERTOOLS_METRICS_DISABLED``. Never pass data as a dimension: it becomes a metric name."""
    if _metrics_disabled():
        return
    document: dict[str, Any] = {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [{"Namespace": metrics_namespace(),
                                   "Dimensions": [["service", *dimensions]],
                                   "Metrics": [{"Name": metric, "Unit": "Count"}]}],
        },
        "service": service_name(),
        **dimensions,
        metric: value,
    }
    sys.stdout.write(json.dumps(document, separators=(",", ":")) + "\n")
