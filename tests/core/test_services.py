"""Settings, AWS clients, locks, audit, health and import cost."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

import pytest

from opsfn.core.settings import core_settings, setting_variables
from opsfn.errors import Conflict, InvalidSetting, MissingSetting
from opsfn.handler import app
from opsfn.routes.imaging.settings import ImagingSettings
from opsfn.services import audit, aws, locks
from opsfn.testing import Client
from tests.tables import create_table


def test_missing_setting_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("UPLOAD_BUCKET", raising=False)
    with pytest.raises(MissingSetting) as info:
        ImagingSettings.current().required("UPLOAD_BUCKET")
    assert info.value.message == "setting UPLOAD_BUCKET is not configured"


def test_invalid_setting_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSFN_MAX_BODY_BYTES", "-5")
    with pytest.raises(InvalidSetting) as info:
        _ = core_settings().max_body_bytes
    assert info.value.variables == ["OPSFN_MAX_BODY_BYTES"]


def test_settings_follow_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSFN_MAX_BODY_BYTES", "123")
    assert core_settings().max_body_bytes == 123
    monkeypatch.setenv("OPSFN_MAX_BODY_BYTES", "456")
    assert core_settings().max_body_bytes == 456


def test_every_setting_is_documented() -> None:
    for name, _default, description in setting_variables():
        assert name == name.upper() and description, name


def test_a_route_missing_its_setting_fails_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOCK_TABLE", raising=False)
    client = Client(app)
    with pytest.raises(MissingSetting):
        locks.acquire("x", 10)
    assert client.invoke("health")["status"] == "ok"


def test_clients_are_cached_and_use_the_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    first = aws.client("s3")
    assert aws.client("s3") is first
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5999")
    other = aws.client("s3")
    assert other is not first
    assert other.meta.endpoint_url == "http://127.0.0.1:5999"
    config = other.meta.config
    assert config.retries["mode"] == "standard"
    assert config.connect_timeout == 5 and config.read_timeout == 30
    assert config.signature_version == "v4"


def _tables() -> None:
    create_table("locks", "lockId", "expiresAt")
    create_table("audit", "auditId")


def test_locks_exclude_expire_and_release(moto_aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCK_TABLE", "locks")
    _tables()
    held = locks.acquire("sync:target", 60)
    with pytest.raises(Conflict):
        locks.acquire("sync:target", 60)
    assert locks.holder_expiry("sync:target") == held.expires_at
    locks.release(held)
    assert locks.holder_expiry("sync:target") is None
    stale = locks.acquire("db:start", 1, now=time.time() - 120)
    fresh = locks.acquire("db:start", 60)  # the stale holder's lock expired
    locks.release(stale)  # a stale holder cannot release the new holder's lock
    with pytest.raises(Conflict):
        locks.acquire("db:start", 60)
    locks.release(fresh)


def test_audit_records_once(moto_aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUDIT_TABLE", "audit")
    _tables()
    audit_id = audit.record("restart_service", "api", {"ok": True}, incident_id="INC-1",
                            audit_id="INC-1:restart_service")
    audit.record("restart_service", "api", {"ok": False}, audit_id=audit_id)
    items = aws.client("dynamodb").scan(TableName="audit")["Items"]
    assert len(items) == 1
    assert items[0]["incidentId"]["S"] == "INC-1"
    assert '"ok": true' in items[0]["result"]["S"]


@pytest.mark.parametrize("shape", ["http_v1", "http_v2", "function_url", "alb"])
def test_health_over_http_and_invoke(shape: str) -> None:
    client = Client(app)
    reply = client.get("/health", shape=shape)
    assert reply.status == 200
    body: dict[str, Any] = reply.json()
    assert body["version"] and body["routes"]["http"] >= 1 and body["routes"]["action"] >= 1
    assert isinstance(body["cold_start"], bool)
    assert client.invoke("health")["routes"] == body["routes"]


def test_importing_the_handler_pulls_in_nothing_heavy() -> None:
    code = ("import sys, opsfn.handler; heavy = ['numpy', 'pydicom', 'PIL', 'cryptography', "
            "'redis', 'boto3', 'botocore.client']; print([m for m in heavy if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_health_invoke_in_a_fresh_process_imports_no_sdk() -> None:
    code = ("import sys, opsfn.handler as h; h.lambda_handler({'action': 'health'}, None); "
            "print([m for m in ['boto3', 'botocore.client', 'numpy', 'pydicom'] if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"POWERTOOLS_METRICS_DISABLED": "true", "PATH": ""})
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_tracer_only_when_enabled(monkeypatch: pytest.MonkeyPatch) -> None:
    import contextlib

    from opsfn.core import route_call

    subsegments: list[str] = []

    class Segment:
        def put_annotation(self, key: str, value: str) -> None:
            subsegments.append(f"{key}={value}")

    class Provider:
        @contextlib.contextmanager
        def in_subsegment(self, name: str) -> Any:
            subsegments.append(name)
            yield Segment()

    class FakeTracer:
        provider = Provider()

    monkeypatch.setattr(route_call, "get_tracer", FakeTracer)
    client = Client(app)
    client.invoke("health")
    assert subsegments == []
    monkeypatch.setenv("OPSFN_TRACING", "true")
    client.invoke("health")
    assert subsegments == ["## action:health", "route=action:health"]


def test_the_settings_check_names_invalid_values_while_health_answers(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from opsfn.tooling.cli import main

    monkeypatch.setenv("SYNC_CONCURRENCY", "lots")
    monkeypatch.setenv("OPSFN_CR_MARGIN_MS", "soon")
    assert Client(app).invoke("health")["status"] == "ok"
    assert main(["settings", "--check"]) == 1
    assert capsys.readouterr().err.split() == ["invalid:", "OPSFN_CR_MARGIN_MS", "invalid:",
                                               "SYNC_CONCURRENCY"]
    monkeypatch.delenv("SYNC_CONCURRENCY")
    monkeypatch.delenv("OPSFN_CR_MARGIN_MS")
    assert main(["settings", "--check"]) == 0


def test_an_invalid_core_setting_is_a_500_in_the_sources_format_and_a_log_line(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("OPSFN_MAX_BODY_BYTES", "abc")
    for shape in ("http_v1", "http_v2", "function_url", "alb"):
        reply = Client(app).get("/health", shape=shape)
        assert reply.status == 500 and reply.json()["error"] == "invalid_setting", shape
        assert "statusCode" in reply.raw
    logged = [r for r in caplog.records if r.getMessage() == "HTTP request failed on a setting"]
    assert logged and all(getattr(r, "settings", None) == ["OPSFN_MAX_BODY_BYTES"] for r in logged)


def test_an_invalid_answer_margin_still_answers_the_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSFN_CR_MARGIN_MS", "soon")
    answer = Client(app).custom_resource("Create", "Custom::SslMaterials", {})
    assert answer["Status"] == "FAILED" and "OPSFN_CR_MARGIN_MS" in answer["Reason"]


def test_one_table_says_what_an_aws_error_means() -> None:
    from botocore.exceptions import ClientError

    from opsfn.aws_errors import from_aws_error, is_permanent, kind_of

    def failure(code: str) -> ClientError:
        return ClientError({"Error": {"Code": code, "Message": "secret-ish detail"}}, "PutObject")

    assert kind_of(failure("SlowDown")) == "throttled"
    assert kind_of(failure("404")) == kind_of(failure("NoSuchKey")) == "not_found"
    assert kind_of(failure("ConditionalCheckFailedException")) == "condition_failed"
    assert kind_of(failure("SomethingNew")) == "other" and kind_of(ValueError()) is None
    assert is_permanent("AccessDenied") and is_permanent("NoSuchBucket")
    assert not is_permanent("Throttling") and not is_permanent("InternalError")
    error = from_aws_error(failure("AccessDenied"))
    assert error is not None and error.permanent and error.message == "AWS PutObject failed: AccessDenied"
    assert "secret-ish" not in error.message
    retryable = from_aws_error(failure("ServiceUnavailable"))
    assert retryable is not None and not retryable.permanent
