"""The on-demand database: start it from the dashboard, stop it when idle.

Replaces the dashboard's start-RDS and auto-stop functions. Public routes:
``POST /database/start``, ``GET /database/status``, ``POST /database/activity``, the actions
``record_activity`` and ``stop_database``, and the schedule ``database-auto-stop``.

``router`` is built on first access, so that the handler (which registers routes from the
manifest) can import one module without the others.
"""

from __future__ import annotations

from opsfn.lazy import attributes

__all__ = ["router"]

__getattr__, __dir__ = attributes(globals(), {"router": "opsfn.routes.database.routes:router"})
