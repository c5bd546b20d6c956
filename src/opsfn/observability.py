"""Structured logs and per-route metrics, created on first use so imports stay cheap.

Log lines carry the route, the source and the request id; never an event, a body, an object key
from a user or a secret. Metrics go out as CloudWatch EMF documents in the ``opsfn`` namespace:
``Invocations``, ``Errors`` and ``Duration`` with the dimension ``route``.
"""

from __future__ import annotations

import os
import traceback
from functools import lru_cache
from pathlib import Path
from typing import Any

SERVICE = "opsfn"
NAMESPACE = "opsfn"


@lru_cache(maxsize=1)
def get_logger() -> Any:
    """The Powertools JSON logger for the service."""
    import logging
    import sys

    from aws_lambda_powertools import Logger

    # stderr: Lambda sends both streams to CloudWatch, and the CLI keeps stdout for results.
    return Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", SERVICE),
                  logger_handler=logging.StreamHandler(sys.stderr))


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


def emit_route_metrics(stats: dict[str, list[float]]) -> None:
    """One EMF document per route that ran in this invocation: count, errors, total ms."""
    if not stats:
        return
    from aws_lambda_powertools.metrics import MetricUnit
    from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import (
        AmazonCloudWatchEMFProvider,
    )

    for route, (count, errors, duration_ms) in stats.items():
        provider = AmazonCloudWatchEMFProvider(namespace=NAMESPACE, service=SERVICE)
        provider.add_dimension(name="route", value=route[:250])
        provider.add_metric(name="Invocations", unit=MetricUnit.Count, value=count)
        provider.add_metric(name="Errors", unit=MetricUnit.Count, value=errors)
        provider.add_metric(name="Duration", unit=MetricUnit.Milliseconds, value=duration_ms)
        provider.flush_metrics()
