"""The operations routes are part of the deployed handler and reachable only as declared."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from opsfn.errors import NotExposed
from opsfn.handler import app, lambda_handler
from opsfn.testing import Client, invoke_event, sqs_event


def test_routes_are_registered_in_the_handler() -> None:
    labels = {route.label for route in app.routes}
    assert {"action:restart_service", "action:scale_up", "action:clear_cache",
            "action:notify_human", "action:none", "action:record_activity", "action:stop_database",
            "action:start_database", "action:database_status",
            "POST /database/start", "GET /database/status", "POST /database/activity",
            "schedule:database-auto-stop", "schedule:etl-scheduled-run",
            "eventbridge:aws.glue/Glue Job State Change", "s3:${LANDING_BUCKET}/*"} <= labels


def test_incident_actions_are_not_reachable_over_http() -> None:
    reply = Client(app).post("/restart_service", json_body={"target": "api"})
    assert reply.status == 404


def test_incident_actions_are_not_reachable_from_the_action_queue(
        monkeypatch: pytest.MonkeyPatch, log_lines: Callable[[], list[str]]) -> None:
    monkeypatch.setenv("OPSFN_ACTION_QUEUE", "opsfn-actions")
    event = sqs_event([invoke_event("restart_service", target="api", incidentId="i",
                                    priority="high")], queue="opsfn-actions")
    reply = lambda_handler(event, None)
    assert len(reply["batchItemFailures"]) == 1
    assert any(f'"error":"{NotExposed.code}"' in line for line in log_lines())
