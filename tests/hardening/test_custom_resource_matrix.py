"""Every custom resource type of the real app, against every way the ResponseURL can misbehave.

For each registered type (walked from the registry, so a new type joins the matrix and must bring
valid properties) and each request type, the answer is attempted as exactly one series: one
body, re-sent only on 5xx or a lost connection, never a second answer, never none, and bounded
in time. A handler that raises answers FAILED; one that overruns the deadline is answered FAILED
by the guard and its late answer is dropped.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from opsfn import testing as t
from opsfn.core.binding import binder_for
from opsfn.core.dispatch import custom_resource as dispatcher
from opsfn.events.custom_resource import SendPolicy
from opsfn.handler import app
from opsfn.testing import FakeLambdaContext, ResponseURLServer

POLICY = SendPolicy(attempts=3, timeout_s=0.3, backoff_s=0.02)
# The worst a series may take: every attempt timing out plus the pauses between them.
SERIES_BOUND_S = POLICY.attempts * POLICY.timeout_s + 0.1

PROPS: dict[str, dict[str, Any]] = {
    "Custom::ActiveReceiptRuleSet": {"RuleSetName": "alpha"},
    "Custom::SmtpCredential": {"UserName": "smtp-matrix",
                               "IdentityArn": "arn:aws:ses:us-east-1:123456789012:identity/x.org"},
    "Custom::SslMaterials": {"KeyType": "ecdsa-p256"},
}
PHYSICAL: dict[str, str] = {
    "Custom::ActiveReceiptRuleSet": "ses-active-rule-set:alpha:",
}
TYPES = sorted(app.registry.custom_resources)
REQUESTS = ["Create", "Update", "Delete"]
BEHAVIOURS = ["ok", "failing", "slow", "refusing", "unreachable"]


@pytest.fixture(autouse=True)
def _setting_up(moto_aws: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A fast answer policy, and what each type needs to succeed: SES sets, IAM, a TLS dir."""
    from opsfn.services import aws

    monkeypatch.setattr(dispatcher, "SEND_POLICY", POLICY)
    monkeypatch.setenv("SSL_DIR", str(tmp_path / "ssl"))
    monkeypatch.setenv("SSL_LOCK_WAIT_SECONDS", "0")
    aws.client("ses").create_receipt_rule_set(RuleSetName="alpha")
    yield


def test_every_registered_type_is_in_the_matrix() -> None:
    missing = [name for name in TYPES if name not in PROPS]
    assert TYPES and not missing, f"add valid properties for {missing} to PROPS"


def _event(request_type: str, resource_type: str, url: str) -> dict[str, Any]:
    props = PROPS[resource_type]
    extra: dict[str, Any] = {}
    if request_type != "Create":
        extra["physical_id"] = PHYSICAL.get(resource_type, f"{resource_type[8:]}-matrix")
    if request_type == "Update":
        extra["old_properties"] = props
    return t.custom_resource_event(request_type, resource_type, props, response_url=url, **extra)


def _closed_port_url() -> str:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}/cfn?X-Amz-Signature=secret-signature"


def _one_series(server: ResponseURLServer) -> dict[str, Any]:
    """Every PUT carries the same body: retries of one answer, never a second answer."""
    assert server.received, "no answer reached the ResponseURL"
    bodies = {json.dumps(r["body"], sort_keys=True) for r in server.received}
    assert len(bodies) == 1, bodies
    assert len(server.received) <= POLICY.attempts
    return server.received[0]["body"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("behaviour", BEHAVIOURS)
@pytest.mark.parametrize("request_type", REQUESTS)
@pytest.mark.parametrize("resource_type", TYPES)
def test_one_bounded_answer_whatever_the_response_url_does(resource_type: str, request_type: str,
                                                           behaviour: str) -> None:
    statuses = [500] if behaviour == "failing" else [200]
    delay = POLICY.timeout_s + 0.2 if behaviour == "slow" else 0.0
    with ResponseURLServer(statuses=statuses, delay_s=delay) as server:
        url = {"refusing": _closed_port_url(),
               "unreachable": "https://cfn-response.invalid/r?X-Amz-Signature=secret-signature",
               }.get(behaviour, server.url)
        started = time.monotonic()
        result = app(_event(request_type, resource_type, url), FakeLambdaContext(30_000))
        elapsed = time.monotonic() - started
        assert result["Status"] == "SUCCESS", result
        if behaviour in ("refusing", "unreachable"):
            assert result["delivered"] is False and server.received == []
        else:
            answer = _one_series(server)
            assert answer["Status"] == "SUCCESS", answer["Reason"]
            assert answer["RequestId"] and answer["PhysicalResourceId"] == result["PhysicalResourceId"]
            expected = {"ok": 1, "failing": POLICY.attempts}.get(behaviour)
            if expected is not None:
                assert len(server.received) == expected
            assert result["delivered"] is (behaviour == "ok")
    # Route work (moto, key generation) plus at most one bounded series of answer attempts.
    assert elapsed < SERIES_BOUND_S + 3.0, elapsed


@pytest.fixture
def patched_handler(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Replace one type's route function (after its binder is built from the real one)."""

    def patch(resource_type: str, replacement: Any) -> Any:
        route = app.registry.custom_resources[resource_type]
        binder_for(route)
        real = route.func
        monkeypatch.setattr(route, "func", replacement)
        return real

    return patch


@pytest.mark.parametrize("request_type", REQUESTS)
@pytest.mark.parametrize("resource_type", TYPES)
def test_a_raising_handler_answers_failed_once(resource_type: str, request_type: str,
                                               patched_handler: Any) -> None:
    calls: list[str] = []

    def raising(**_: Any) -> Any:
        calls.append("called")
        raise RuntimeError("hunter2 must not reach CloudFormation")

    patched_handler(resource_type, raising)
    with ResponseURLServer() as server:
        started = time.monotonic()
        app(_event(request_type, resource_type, server.url), FakeLambdaContext(30_000))
        elapsed = time.monotonic() - started
        answer = _one_series(server)
        assert len(server.received) == 1
    assert calls == ["called"]
    assert answer["Status"] == "FAILED" and answer["Reason"] == "internal error"
    assert "hunter2" not in json.dumps(answer)
    assert elapsed < 2.0


@pytest.mark.parametrize("request_type", REQUESTS)
@pytest.mark.parametrize("resource_type", TYPES)
def test_an_overrunning_handler_is_answered_by_the_guard_only(
        resource_type: str, request_type: str, patched_handler: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSFN_CR_MARGIN_MS", "700")
    with ResponseURLServer() as server:
        finished = threading.Event()

        def overrunning(**kwargs: Any) -> Any:
            # Still busy when the guard fires (300 ms in); then finishes and answers too late.
            give_up = time.monotonic() + 3.0
            while not server.received and time.monotonic() < give_up:
                time.sleep(0.01)
            result = real(**kwargs)
            finished.set()
            return result

        real = patched_handler(resource_type, overrunning)
        started = time.monotonic()
        result = app(_event(request_type, resource_type, server.url), FakeLambdaContext(1_000))
        elapsed = time.monotonic() - started
        assert finished.is_set()
        answer = _one_series(server)
        assert len(server.received) == 1
        guard_at = server.received[0]["at"] - started
    assert answer["Status"] == "FAILED" and "timed out" in answer["Reason"]
    assert result["Status"] == "FAILED"
    assert guard_at < 0.3 + 0.4  # the guard fired at remaining - margin, not at the deadline
    assert elapsed < 3.5
