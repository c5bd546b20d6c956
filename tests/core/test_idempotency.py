"""The idempotency helper on its own, against moto's DynamoDB: the four states a key goes through."""

from __future__ import annotations

import time
import types
from typing import Any

import pytest

from opsfn.errors import Conflict, UpstreamError
from opsfn.services import aws, idempotency
from opsfn.testing import FakeLambdaContext
from tests.tables import create_shared_tables

TABLE = "ops-idempotency"


@pytest.fixture
def tables(moto_aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """LOCK_TABLE, AUDIT_TABLE and IDEMPOTENCY_TABLE as the template defines them."""
    create_shared_tables(monkeypatch)


class Invocation:
    """What the helper reads from an invocation: the time left."""

    def __init__(self, timeout_ms: int) -> None:
        self._context = FakeLambdaContext(timeout_ms)

    def remaining_ms(self) -> int:
        return self._context.get_remaining_time_in_millis()


class Died(BaseException):
    """The runtime ending the invocation (timeout, out of memory): no handler runs."""


def item(key: str) -> dict[str, Any] | None:
    return aws.client("dynamodb").get_item(TableName=TABLE, Key={"id": {"S": key}}).get("Item")


def run(key: str, work: Any, *, timeout_ms: int = 60_000, **options: Any) -> idempotency.Once:
    return idempotency.run_once(key, work, done_s=3600,
                                in_flight_s=idempotency.in_flight_seconds(Invocation(timeout_ms)),
                                **options)


def test_done_once_then_replayed_for_the_window(tables: None) -> None:
    calls: list[int] = []

    def work() -> dict[str, Any]:
        calls.append(1)
        return {"n": len(calls)}

    first = run("k1", work)
    assert first == idempotency.Once({"n": 1}, replayed=False)
    assert run("k1", work) == idempotency.Once({"n": 1}, replayed=True) and calls == [1]
    record = item("k1")
    assert record is not None and record["status"]["S"] == "COMPLETED"
    assert time.time() + 3590 <= int(record["expiration"]["N"]) <= time.time() + 3600


def test_in_flight_marker_lasts_the_invocation_plus_the_margin(tables: None) -> None:
    started = time.time()

    def dies() -> dict[str, Any]:
        raise Died

    with pytest.raises(Died):
        run("k2", dies, timeout_ms=5_000)
    record = item("k2")
    assert record is not None and record["status"]["S"] == "INPROGRESS"
    expiry = int(record["expiration"]["N"])
    assert started + 5 + idempotency.MARGIN_S - 2 <= expiry <= time.time() + 5 + idempotency.MARGIN_S
    with pytest.raises(Conflict, match="busy"):
        run("k2", lambda: {"x": 1}, busy_message="busy")  # maybe still running: retry later


def test_the_retry_after_the_deadline_does_the_work(tables: None,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    def dies() -> dict[str, Any]:
        raise Died

    with pytest.raises(Died):
        run("k3", dies, timeout_ms=1_000)
    later = types.SimpleNamespace(time=lambda: time.time() + 1 + idempotency.MARGIN_S + 1)
    monkeypatch.setattr(idempotency, "time", later)
    assert run("k3", lambda: {"done": True}) == idempotency.Once({"done": True}, replayed=False)


def test_a_failure_leaves_no_marker(tables: None) -> None:
    def fails() -> dict[str, Any]:
        raise UpstreamError("throttled")

    with pytest.raises(UpstreamError):
        run("k4", fails)
    assert item("k4") is None
    assert run("k4", lambda: {"ok": 1}).replayed is False


def test_a_key_reused_with_another_fingerprint(tables: None) -> None:
    run("k5", lambda: {"t": "api"}, fingerprint="api")
    with pytest.raises(idempotency.Mismatch):
        run("k5", lambda: {"t": "db"}, fingerprint="db")
    assert run("k5", lambda: {}, fingerprint="api").result == {"t": "api"}


def test_an_unreachable_store_does_nothing(tables: None) -> None:
    calls: list[int] = []
    with pytest.raises(UpstreamError, match="idempotency store failed: ResourceNotFoundException"):
        run("k6", lambda: {"n": calls.append(1)}, table="no-such-table")
    assert calls == []
