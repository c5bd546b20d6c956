"""The handful of settings dispatch reads on every event, parsed without pydantic.

They are fields of :class:`opsfn.config.core.CoreSettings` too (names, defaults and limits are
checked equal by a test); reading them here keeps importing the handler free of pydantic, whose
import alone costs more than a light route's whole cold start.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from opsfn.environ import EnvWatch
from opsfn.errors import InvalidSetting

MiB = 1024 * 1024
_TRUE = frozenset({"1", "true", "yes", "on", "t", "y"})
_FALSE = frozenset({"0", "false", "no", "off", "f", "n"})


@dataclass(frozen=True, slots=True)
class DispatchSettings:
    """What the dispatchers need from the environment."""

    action_queue: str | None = None
    schedule_prefix: str = ""
    max_body_bytes: int = 1 * MiB
    tracing: bool = False
    custom_resource_margin_ms: int = 5000
    cors_origin: str | None = None


VARIABLES = {
    "action_queue": "OPSFN_ACTION_QUEUE",
    "schedule_prefix": "OPSFN_SCHEDULE_PREFIX",
    "max_body_bytes": "OPSFN_MAX_BODY_BYTES",
    "tracing": "OPSFN_TRACING",
    "custom_resource_margin_ms": "OPSFN_CR_MARGIN_MS",
    "cors_origin": "OPSFN_CORS_ORIGIN",
}
MINIMUMS = {"max_body_bytes": 1, "custom_resource_margin_ms": 500}

_WATCH = EnvWatch(VARIABLES.values())
_cache: tuple[tuple[Any, ...], DispatchSettings] | None = None


def _integer(field: str, raw: str) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        raise InvalidSetting([VARIABLES[field]]) from None
    if value < MINIMUMS.get(field, value):
        raise InvalidSetting([VARIABLES[field]])
    return value


def _boolean(field: str, raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise InvalidSetting([VARIABLES[field]])


def _parse() -> DispatchSettings:
    values: dict[str, Any] = {}
    for field, variable in VARIABLES.items():
        raw = os.environ.get(variable)
        if raw is None:
            continue
        if field in MINIMUMS:
            values[field] = _integer(field, raw)
        elif field == "tracing":
            values[field] = _boolean(field, raw)
        else:
            values[field] = raw or None if field != "schedule_prefix" else raw
    return DispatchSettings(**values)


def dispatch_settings() -> DispatchSettings:
    """The current values, re-read only when one of the variables changed."""
    global _cache  # noqa: PLW0603 - per-process cache keyed by the values it was built from
    snapshot = _WATCH.snapshot()
    if _cache is not None and _cache[0] == snapshot:
        return _cache[1]
    settings = _parse()
    _cache = (snapshot, settings)
    return settings
