"""Incident remediation: the incident backend's four action functions, as one set of actions.

Replaces ``incident-restart-service``, ``incident-scale-up``, ``incident-clear-cache`` and
``incident-notify-human`` (seed 003). Public routes: the actions ``restart_service``, ``scale_up``,
``clear_cache``, ``notify_human`` and ``none``, each taking the backend's payload ``{"action",
"target", "incidentId", "priority", "incidentDetails"?}``; targets come from ``INCIDENT_TARGETS``
(see docs/operations.md).

``router`` is built on first access, so that the handler (which registers routes from the
manifest) can import one module without the others.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opsfn.core.router import Router

__all__ = ["router"]


def _build() -> Router:
    from opsfn.routes.incidents import routes

    return routes.router


def __getattr__(name: str) -> Any:
    if name == "router":
        value = _build()
        globals()["router"] = value
        return value
    raise AttributeError(name)
