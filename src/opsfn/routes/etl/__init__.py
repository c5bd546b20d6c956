"""Glue ETL triggering: landed FHIR files start the workflow, job failures alert a human.

Replaces the MetricCare ETL project's Glue trigger function. Public routes: S3 ``ObjectCreated`` on
``LANDING_BUCKET`` (landing files under LANDING_PREFIX with a JSON or NDJSON suffix are checked by
streaming, quarantined when invalid, and runs are coalesced; see docs/etl.md), the schedule
``etl-scheduled-run`` and the EventBridge rule for ``Glue Job State Change``.

``router`` is built on first access, so that the handler (which registers routes from the
manifest) can import one module without the others.
"""

from __future__ import annotations

from opsfn.lazy import attributes

__all__ = ["router"]

__getattr__, __dir__ = attributes(globals(), {"router": "opsfn.routes.etl.routes:router"})
