"""What a route may ask for besides its input: the Lambda context, the time left, a logger."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from opsfn.observability import get_logger

_DEFAULT_BUDGET_MS = 900_000  # outside Lambda (tests, CLI) there is no deadline: use the maximum


@dataclass(slots=True)
class Context:
    """Per-call context. ``source`` is the detected event kind (``http_v1``, ``sqs``, ...)."""

    source: str
    route: str
    request_id: str
    lambda_context: Any = None
    started: float = 0.0
    app: Any = None
    cold_start: bool = False

    @property
    def logger(self) -> Any:
        """The shared structured logger (never log bodies, keys from users or secrets)."""
        return get_logger()

    def remaining_ms(self) -> int:
        """Milliseconds until the Lambda deadline."""
        return remaining_ms(self.lambda_context, self.started)


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
