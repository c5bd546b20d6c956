"""The incident actions are reachable only as declared: not over HTTP, not from the action queue."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from opsfn.errors import NotExposed
from opsfn.handler import app, lambda_handler
from opsfn.testing import Client, invoke_event, sqs_event


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
