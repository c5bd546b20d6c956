"""The incidents, database and etl routes are part of the deployed handler."""

from __future__ import annotations

from opsfn.handler import app


def test_routes_are_registered_in_the_handler() -> None:
    labels = {route.label for route in app.routes}
    assert {"action:restart_service", "action:scale_up", "action:clear_cache",
            "action:notify_human", "action:none", "action:record_activity", "action:stop_database",
            "action:start_database", "action:database_status",
            "POST /database/start", "GET /database/status", "POST /database/activity",
            "schedule:database-auto-stop", "schedule:etl-scheduled-run",
            "eventbridge:aws.glue/Glue Job State Change", "s3:${LANDING_BUCKET}/*"} <= labels
