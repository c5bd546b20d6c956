"""Incident remediation: the incident backend's four action functions, as one set of actions.

Replaces ``incident-restart-service``, ``incident-scale-up``, ``incident-clear-cache`` and
``incident-notify-human``. Public routes: the actions ``restart_service``, ``scale_up``,
``clear_cache``, ``notify_human`` and ``none``, each taking the backend's payload ``{"action",
"target", "incidentId", "priority", "incidentDetails"?}``; targets come from ``INCIDENT_TARGETS``
(see docs/incidents.md).

``router`` is built on first access, so that the handler (which registers routes from the
manifest) can import one module without the others.
"""

from __future__ import annotations

from opsfn.lazy import attributes

__all__ = ["router"]

__getattr__, __dir__ = attributes(globals(), {"router": "opsfn.routes.incidents.routes:router"})
