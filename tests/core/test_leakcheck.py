"""The suite-wide leak check can fail: it finds a planted value."""

from __future__ import annotations

from typing import Any

import pytest

from opsfn.errors import OpsfnError
from opsfn.testing import Client
from tests.core.apps import build
from tests.leakcheck import COLLECTOR, Collector


def test_collector_finds_a_planted_secret() -> None:
    """The check itself can fail: a planted value is found in a planted line."""
    probe = Collector()
    probe.secrets = {"planted-secret-value"}
    probe.add_reply("HTTP error reply", {"body": "oops planted-secret-value"})
    assert probe.leaks() and "HTTP error reply" in probe.leaks()[0]


def test_errors_and_logs_are_collected(secret: Any) -> None:
    before = len(COLLECTOR.texts)
    client = Client(build([]))
    assert client.get("/nothing").status == 404
    with pytest.raises(OpsfnError):
        client.invoke("explode")
    assert len(COLLECTOR.texts) >= before + 3  # the 404, the raised error, its log line
    assert secret("registered-value-123") in COLLECTOR.secrets
    COLLECTOR.secrets.discard("registered-value-123")
