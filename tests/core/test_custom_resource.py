"""Custom resource contract: exactly one bounded answer to a real local ResponseURL server."""

from __future__ import annotations

import json
import socket
import time
from typing import Any

import pytest

from opsfn import App, CustomResourceRequest, Router
from opsfn import testing as t
from opsfn.core.dispatch import custom_resource as dispatcher
from opsfn.events.custom_resource import MAX_RESPONSE_BYTES, SendPolicy
from opsfn.testing import Client, FakeLambdaContext, ResponseURLServer
from tests.core.apps import Props, build


@pytest.fixture(autouse=True)
def _fast_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dispatcher, "SEND_POLICY", SendPolicy(attempts=3, timeout_s=0.5,
                                                              backoff_s=0.05))


@pytest.fixture
def calls() -> list[tuple[str, Any]]:
    return []


@pytest.fixture
def app(calls: list[tuple[str, Any]]) -> App:
    app = build(calls)
    router = Router()

    @router.custom_resource("Custom::Slow")
    def slow(request: CustomResourceRequest) -> dict[str, str]:
        time.sleep(2.5)
        calls.append(("slow", request.request_type))
        return {"Done": "yes"}

    @router.custom_resource("Custom::Crash")
    def crash(props: Props) -> None:
        raise ValueError("secret password hunter2 leaked in a message")

    @router.custom_resource("Custom::Big")
    def big(props: Props) -> dict[str, str]:
        if props.Size == 0:
            from opsfn.errors import InvalidContent

            raise InvalidContent("x" * 10_000)
        return {"Blob": "y" * props.Size}

    app.include(router)
    return app


def run(app: App, server: ResponseURLServer, request_type: str, resource_type: str,
        props: dict[str, Any], timeout_ms: int = 60_000, **kwargs: Any) -> float:
    event = t.custom_resource_event(request_type, resource_type, props, response_url=server.url,
                                    **kwargs)
    started = time.monotonic()
    app(event, FakeLambdaContext(timeout_ms))
    return time.monotonic() - started


def only_answer(server: ResponseURLServer) -> dict[str, Any]:
    assert len(server.received) == 1, server.received
    return server.received[0]["body"]  # type: ignore[no-any-return]


def test_create_update_delete_physical_ids(app: App) -> None:
    with ResponseURLServer() as server:
        run(app, server, "Create", "Custom::Thing", {"Name": "a", "Size": 3})
        created = only_answer(server)
    assert created["Status"] == "SUCCESS"
    assert created["PhysicalResourceId"] == "thing-a"
    assert created["Data"] == {"Size": 3}
    assert created["NoEcho"] is False
    for field in ("StackId", "RequestId", "LogicalResourceId"):
        assert created[field]
    with ResponseURLServer() as server:
        run(app, server, "Update", "Custom::Thing", {"Name": "b", "Size": 500},
            old_properties={"Name": "a"}, physical_id="thing-a")
        updated = only_answer(server)
    assert updated["PhysicalResourceId"] == "thing-b"  # replacement: a new id
    assert updated["NoEcho"] is True
    with ResponseURLServer() as server:
        run(app, server, "Delete", "Custom::Thing", {"Name": "b"}, physical_id="thing-b")
        assert only_answer(server)["PhysicalResourceId"] == "thing-b"


def test_failed_create_keeps_a_stable_id(app: App) -> None:
    ids = []
    for _ in range(2):
        with ResponseURLServer() as server:
            run(app, server, "Create", "Custom::Thing", {"Name": "a", "Fail": True})
            answer = only_answer(server)
            assert answer["Status"] == "FAILED"
            assert answer["Reason"] == "asked to fail"
            ids.append(answer["PhysicalResourceId"])
    assert ids[0] == ids[1]


def test_validation_failure_names_fields(app: App) -> None:
    client = Client(app)
    answer = client.custom_resource("Create", "Custom::Thing", {"Size": "big"})
    assert answer["Status"] == "FAILED"
    assert "properties.Name" in answer["Reason"] and "properties.Size" in answer["Reason"]


def test_delete_with_invalid_properties_succeeds(app: App) -> None:
    answer = Client(app).custom_resource("Delete", "Custom::Thing", {}, physical_id="p-1")
    assert answer["Status"] == "SUCCESS"
    assert answer["PhysicalResourceId"] == "p-1"


def test_unknown_type_fails_create_but_not_delete(app: App) -> None:
    client = Client(app)
    assert client.custom_resource("Create", "Custom::Nope", {})["Status"] == "FAILED"
    assert client.custom_resource("Delete", "Custom::Nope", {}, physical_id="x")["Status"] == "SUCCESS"


def test_handler_exception_is_failed_without_message(app: App, log_lines: Any) -> None:
    answer = Client(app).custom_resource("Create", "Custom::Crash", {"Name": "a"})
    assert answer["Status"] == "FAILED"
    assert answer["Reason"] == "internal error"
    assert "hunter2" not in json.dumps(answer)
    assert all("hunter2" not in line for line in log_lines())


def test_oversize_reason_is_truncated(app: App) -> None:
    with ResponseURLServer() as server:
        run(app, server, "Create", "Custom::Big", {"Name": "a", "Size": 0})
        raw = server.received[0]["raw"]
    assert len(raw) <= MAX_RESPONSE_BYTES
    body = json.loads(raw)
    assert body["Status"] == "FAILED"
    assert body["Reason"].endswith("[truncated]")


def test_oversize_data_fails_clearly(app: App) -> None:
    with ResponseURLServer() as server:
        run(app, server, "Create", "Custom::Big", {"Name": "a", "Size": 5000})
        raw = server.received[0]["raw"]
    assert len(raw) <= MAX_RESPONSE_BYTES
    assert json.loads(raw)["Status"] == "FAILED"
    assert "4096" in json.loads(raw)["Reason"]


def test_server_error_is_retried_then_accepted(app: App) -> None:
    with ResponseURLServer(statuses=[500, 503, 200]) as server:
        run(app, server, "Create", "Custom::Thing", {"Name": "a"})
        assert len(server.received) == 3
        bodies = {json.dumps(r["body"], sort_keys=True) for r in server.received}
    assert len(bodies) == 1  # the same single answer, re-sent


def test_persistent_server_error_gives_up_bounded(app: App, calls: list[Any]) -> None:
    with ResponseURLServer(statuses=[500]) as server:
        elapsed = run(app, server, "Create", "Custom::Thing", {"Name": "a"})
        assert len(server.received) == 3
    assert elapsed < 3
    assert calls == [("thing", "Create")]  # the work ran once; only the answer was retried


def test_client_error_is_not_retried(app: App) -> None:
    with ResponseURLServer(statuses=[403]) as server:
        run(app, server, "Create", "Custom::Thing", {"Name": "a"})
        assert len(server.received) == 1


def test_slow_server_is_bounded_by_socket_timeout(app: App) -> None:
    with ResponseURLServer(delay_s=1.5) as server:
        elapsed = run(app, server, "Create", "Custom::Thing", {"Name": "a"})
        assert 1 <= len(server.received) <= 3
    assert elapsed < 3.5


def test_refused_connection_is_bounded(app: App) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    event = t.custom_resource_event("Create", "Custom::Thing", {"Name": "a"},
                                    response_url=f"http://127.0.0.1:{port}/r?X-Amz-Signature=s")
    started = time.monotonic()
    result = app(event, FakeLambdaContext(30_000))
    assert result["delivered"] is False
    assert time.monotonic() - started < 2


def test_unresolvable_host_is_bounded(app: App, log_lines: Any) -> None:
    event = t.custom_resource_event("Create", "Custom::Thing", {"Name": "a"},
                                    response_url="https://cfn-response.invalid/r?X-Amz-Signature=sig")
    result = app(event, FakeLambdaContext(30_000))
    assert result["delivered"] is False
    logged = "\n".join(log_lines())
    assert "cfn-response.invalid/r" in logged
    assert "X-Amz-Signature" not in logged  # the presigned query is a credential


def test_non_http_response_url_is_refused(app: App) -> None:
    event = t.custom_resource_event("Create", "Custom::Thing", {"Name": "a"},
                                    response_url="file:///etc/passwd")
    assert app(event, FakeLambdaContext(30_000))["delivered"] is False


def test_timeout_guard_answers_failed_once(app: App, calls: list[Any],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSFN_CR_MARGIN_MS", "1000")
    with ResponseURLServer() as server:
        run(app, server, "Create", "Custom::Slow", {}, timeout_ms=2000)
        answer = only_answer(server)
        assert answer["Status"] == "FAILED"
        assert "timed out" in answer["Reason"]
        elapsed_to_answer = server.received[0]["at"]
    assert calls == [("slow", "Create")]  # the route finished; its late answer was dropped
    assert elapsed_to_answer  # recorded


def test_guard_fires_at_once_when_no_time_is_left(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSFN_CR_MARGIN_MS", "5000")
    with ResponseURLServer() as server:
        started = time.monotonic()
        run(app, server, "Create", "Custom::Slow", {}, timeout_ms=3000)
        assert server.received[0]["at"] - started < 1.0
        assert only_answer(server)["Status"] == "FAILED"


@pytest.mark.parametrize("late_ms", [0, 40])
def test_the_smallest_margin_still_leaves_the_guard_time_to_answer(
        app: App, monkeypatch: pytest.MonkeyPatch, late_ms: int) -> None:
    """With OPSFN_CR_MARGIN_MS at its minimum (500) and the guard firing a little late (the
    watchdog may, by design, by up to its tolerance), the FAILED answer is still sent."""
    from opsfn.core import watchdog

    monkeypatch.setenv("OPSFN_CR_MARGIN_MS", "500")
    real_arm = watchdog.WATCHDOG.arm
    monkeypatch.setattr(watchdog.WATCHDOG, "arm",
                        lambda delay, callback: real_arm(delay + late_ms / 1000, callback))
    with ResponseURLServer() as server:
        run(app, server, "Create", "Custom::Slow", {}, timeout_ms=1000)
        answer = only_answer(server)
    assert answer["Status"] == "FAILED" and "timed out" in answer["Reason"]
