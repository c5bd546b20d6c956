"""The on-demand database: start it from the dashboard, stop it when idle.

Replaces the dashboard's start-RDS and auto-stop functions (seed 004). Public routes:
``POST /database/start``, ``GET /database/status``, ``POST /database/activity``, the actions
``record_activity`` and ``stop_database``, and the schedule ``database-auto-stop``.

``router`` is built on first access, so that the handler (which registers routes from the
manifest) can import one module without the others.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opsfn.core.router import Router

__all__ = ["router"]


def _build() -> Router:
    from opsfn.routes.database import routes

    return routes.router


def __getattr__(name: str) -> Any:
    if name == "router":
        value = _build()
        globals()["router"] = value
        return value
    raise AttributeError(name)
