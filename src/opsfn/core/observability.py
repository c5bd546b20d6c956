"""Structured logs and per-route metrics, created on first use so imports stay cheap.

Log lines carry the route, the source and the request id; never an event, a body, an object key
from a user or a secret. Metrics go out as CloudWatch EMF documents in the ``opsfn`` namespace:
``Invocations``, ``Errors`` and ``Duration`` with the dimension ``route``.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from functools import lru_cache
from pathlib import Path
from typing import Any

SERVICE = "opsfn"
NAMESPACE = "opsfn"


_invocation_keys: dict[str, Any] = {}
_logger: list[Any] = []


def set_invocation_keys(**keys: Any) -> None:
    """Keys every log line of this invocation carries (cold start, source, correlation id).

    Kept here until something logs: importing and building the Powertools logger costs tens of
    milliseconds, which a light invocation that logs nothing should not pay.
    """
    global _invocation_keys  # noqa: PLW0603 - one small dict per invocation, replaced whole
    _invocation_keys = keys
    if _logger:
        _logger[0].append_keys(**keys)


def get_logger() -> Any:
    """The Powertools JSON logger for the service, with this invocation's keys."""
    if not _logger:
        import logging

        from aws_lambda_powertools import Logger

        # stderr: Lambda sends both streams to CloudWatch, and the CLI keeps stdout for results.
        logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", SERVICE),
                        logger_handler=logging.StreamHandler(sys.stderr))
        logger.append_keys(**_invocation_keys)
        _logger.append(logger)
    return _logger[0]


@lru_cache(maxsize=1)
def get_tracer() -> Any:
    """The Powertools tracer; only built when tracing is enabled (it is costly to import)."""
    from aws_lambda_powertools import Tracer

    return Tracer(service=SERVICE)


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
    from opsfn.core.settings import core_settings

    return core_settings().metrics_disabled


def emf_document(route: str, count: float, errors: float, duration_ms: float,
                 timestamp_ms: int) -> dict[str, Any]:
    """A CloudWatch embedded-metric-format document for one route (dimensions route, service)."""
    return {
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["route", "service"]],
                "Metrics": [{"Name": "Invocations", "Unit": "Count"},
                            {"Name": "Errors", "Unit": "Count"},
                            {"Name": "Duration", "Unit": "Milliseconds"}],
            }],
        },
        "route": route[:250],
        "service": SERVICE,
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
