"""Direct invocations: ``{"action": NAME, ...payload}``."""

from __future__ import annotations

from typing import Any


def split_action(event: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The action name and its payload: every other top-level key."""
    payload = {key: value for key, value in event.items() if key != "action"}
    return str(event["action"]), payload
