"""Log keys belong to one call: concurrent calls in threads never log each other's keys; metrics
name the namespace and service Powertools' variables give."""

from __future__ import annotations

import json
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from opsfn import App, Context, Router
from opsfn import testing as t
from opsfn.core import observability
from opsfn.errors import NotFound
from opsfn.testing import FakeLambdaContext

CALLS = 8


def _app(barrier: threading.Barrier) -> App:
    router = Router()

    @router.action("probe")
    def probe(payload: dict[str, Any], context: Context) -> dict[str, Any]:
        n = payload["n"]
        context.logger.info("probe started", extra={"call": n})
        barrier.wait(timeout=10)  # every call is inside the handler at the same time
        context.logger.info("probe half way", extra={"call": n})
        barrier.wait(timeout=10)
        if n % 2:
            raise NotFound("odd calls fail")  # the dispatcher's own failure line, too
        context.logger.info("probe done", extra={"call": n})
        return {"n": n, "keys": observability.invocation_keys()}

    return App([router])


def _lines(log_lines: Any) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log_lines()]


def test_eight_threads_calling_one_handler_never_log_another_calls_keys(log_lines: Any) -> None:
    app = _app(threading.Barrier(CALLS))
    contexts = [FakeLambdaContext() for _ in range(CALLS)]
    for n, context in enumerate(contexts):
        context.aws_request_id = f"request-{n}"

    def call(n: int) -> Any:
        try:
            return app({"action": "probe", "n": n}, contexts[n])
        except NotFound:
            return None

    with ThreadPoolExecutor(CALLS) as pool:
        results = list(pool.map(call, range(CALLS)))
    for n, result in enumerate(results):
        if n % 2 == 0:
            assert result["keys"]["correlation_id"] == f"request-{n}"
            assert result["keys"]["source"] == "invoke"
    lines = _lines(log_lines)
    ours = [line for line in lines if "call" in line]
    assert len(ours) == CALLS * 2 + CALLS // 2
    for line in ours:
        assert line["correlation_id"] == f"request-{line['call']}", line
        assert line["source"] == "invoke"
    failures = [line for line in lines if line.get("message") == "event failed"]
    assert sorted(line["correlation_id"] for line in failures) == sorted(
        f"request-{n}" for n in range(1, CALLS, 2))
    assert sum(line["cold_start"] for line in ours if line["message"] == "probe started") <= 1


def test_keys_end_with_the_call(log_lines: Any) -> None:
    app = _app(threading.Barrier(1))
    context = FakeLambdaContext()
    context.aws_request_id = "only-call"
    app({"action": "probe", "n": 0}, context)
    assert observability.invocation_keys() == {}
    observability.get_logger().info("after the call")
    after = [line for line in _lines(log_lines) if line["message"] == "after the call"]
    assert len(after) == 1 and "correlation_id" not in after[0] and "source" not in after[0]


def test_a_key_the_line_sets_itself_wins(log_lines: Any) -> None:
    token = observability.set_invocation_keys({"source": "invoke", "correlation_id": "c-1"})
    try:
        observability.get_logger().info("own source", extra={"source": "sqs"})
    finally:
        observability.reset_invocation_keys(token)
    (line,) = [line for line in _lines(log_lines) if line["message"] == "own source"]
    assert line["source"] == "sqs" and line["correlation_id"] == "c-1"


def test_a_new_thread_starts_without_keys() -> None:
    token = observability.set_invocation_keys({"source": "invoke", "correlation_id": "parent"})
    seen: list[dict[str, Any]] = []
    try:
        thread = threading.Thread(target=lambda: seen.append(observability.invocation_keys()))
        thread.start()
        thread.join()
    finally:
        observability.reset_invocation_keys(token)
    assert seen == [{}]


def test_route_metrics_follow_powertools_namespace_and_service(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "shop-ops")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "glue-fn")
    observability.emit_route_metrics({"action:health": [1, 0, 1.5]})
    document = json.loads(capsys.readouterr().out.strip())
    assert document["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "shop-ops"
    assert document["service"] == "glue-fn"
    monkeypatch.delenv("POWERTOOLS_METRICS_NAMESPACE")
    monkeypatch.delenv("POWERTOOLS_SERVICE_NAME")
    observability.emit_route_metrics({"action:health": [1, 0, 1.5]})
    document = json.loads(capsys.readouterr().out.strip())
    assert document["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "opsfn"
    assert document["service"] == "opsfn"


def test_an_undelivered_custom_resource_answer_is_a_metric(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        log_lines: Any) -> None:
    from opsfn.core.dispatch import custom_resource as dispatcher
    from opsfn.events.custom_resource import SendPolicy

    monkeypatch.setattr(dispatcher, "SEND_POLICY", SendPolicy(attempts=2, timeout_s=0.5,
                                                              backoff_s=0.05))
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "shop-ops")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens: the answer cannot be delivered
    event = t.custom_resource_event("Create", "Custom::Nobody", {},
                                    response_url=f"http://127.0.0.1:{port}/r?X-Amz-Signature=s")
    assert App([Router()])(event, FakeLambdaContext(30_000))["delivered"] is False
    documents = [json.loads(line) for line in capsys.readouterr().out.splitlines()
                 if observability.UNDELIVERED_ANSWERS in line]
    assert len(documents) == 1
    metric = documents[0]["_aws"]["CloudWatchMetrics"][0]
    assert metric["Namespace"] == "shop-ops" and metric["Dimensions"] == [["service"]]
    assert documents[0][observability.UNDELIVERED_ANSWERS] == 1
    assert any("custom resource answer not delivered" in line for line in log_lines())


def test_the_guard_logs_with_its_calls_keys(monkeypatch: pytest.MonkeyPatch, log_lines: Any) -> None:
    """The watchdog thread answers for a call: its lines carry that call's correlation id."""
    import time

    from opsfn.core.dispatch import custom_resource as dispatcher
    from opsfn.events.custom_resource import SendPolicy

    monkeypatch.setattr(dispatcher, "SEND_POLICY", SendPolicy(attempts=1, timeout_s=0.3,
                                                              backoff_s=0.05))
    monkeypatch.setenv("OPSFN_CR_MARGIN_MS", "1000")
    router = Router()

    @router.custom_resource("Custom::Slow")
    def slow() -> None:
        time.sleep(1.5)

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    event = t.custom_resource_event("Create", "Custom::Slow", {},
                                    response_url=f"http://127.0.0.1:{port}/r?X-Amz-Signature=s")
    context = FakeLambdaContext(1500)
    context.aws_request_id = "guarded-call"
    App([router])(event, context)
    lost = [json.loads(line) for line in log_lines()
            if "custom resource answer not delivered" in line]
    assert lost and lost[0]["correlation_id"] == "guarded-call"
    assert lost[0]["source"] == "custom_resource"
