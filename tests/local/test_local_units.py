"""The local stack's pure parts: names and ARNs, delivered event shapes, batch failures, local
callers, static mounts, payload limits, log tails, destination records."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from opsfn.events import detect
from opsfn.tooling.local import deliveries
from opsfn.tooling.local.activity import Activity, summary
from opsfn.tooling.local.async_invoke import invocation_record
from opsfn.tooling.local.function import FunctionInfo
from opsfn.tooling.local.lambda_api import too_large
from opsfn.tooling.local.local_auth import jwt_claims, local_authorizer
from opsfn.tooling.local.runtime import Outcome
from opsfn.tooling.local.static_mounts import find_file, parse_mount

FN = FunctionInfo("OpsFunction", "us-east-1")


@pytest.mark.parametrize("value", [
    "OpsFunction", "OpsFunction:$LATEST", "123456789012:function:OpsFunction",
    "arn:aws:lambda:us-east-1:123456789012:function:OpsFunction",
    "arn:aws:lambda:us-east-1:123456789012:function:OpsFunction:$LATEST",
])
def test_names_that_are_the_function(value: str) -> None:
    assert FN.matches(value)


@pytest.mark.parametrize(("value", "arn"), [
    ("Other", "arn:aws:lambda:us-east-1:123456789012:function:Other"),
    ("OpsFunction:prod", "arn:aws:lambda:us-east-1:123456789012:function:OpsFunction:prod"),
    ("999999999999:function:OpsFunction", "arn:aws:lambda:us-east-1:999999999999:function:OpsFunction"),
    ("arn:aws:lambda:eu-west-1:123456789012:function:OpsFunction",
     "arn:aws:lambda:eu-west-1:123456789012:function:OpsFunction"),
])
def test_names_that_are_not(value: str, arn: str) -> None:
    assert not FN.matches(value)
    assert FN.unknown_arn(value) == arn
    assert not FN.matches("OpsFunction", "v1")


def test_payload_limits() -> None:
    assert too_large(6 * 1024 * 1024, "RequestResponse") is None
    assert too_large(256 * 1024, "Event") is None
    sync = too_large(6 * 1024 * 1024 + 1, "RequestResponse")
    assert sync is not None and sync.status == 413
    assert sync.headers["x-amzn-ErrorType"] == "RequestEntityTooLargeException"
    event = too_large(262145, "Event")
    assert event is not None and json.loads(event.body)["message"] == (
        "262145 byte payload is too large for the Event invocation type (limit 262144 bytes)")


def _record(key: str = "in/a+b%26c.json") -> dict[str, object]:
    return {"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
            "eventTime": "2026-01-01T00:00:00.000Z", "eventName": "ObjectCreated:Put",
            "s3": {"s3SchemaVersion": "1.0", "configurationId": "Drop",
                   "bucket": {"name": "b", "arn": "arn:aws:s3:::b"},
                   "object": {"key": key, "size": 5, "eTag": "abc"}}}


def test_s3_records_become_the_direct_and_the_eventbridge_event() -> None:
    direct = deliveries.s3_direct_event(_record())
    assert detect(direct).kind == "s3"
    record = direct["Records"][0]
    assert record["s3"]["object"]["key"] == "in/a+b%26c.json"  # still URL-encoded, as S3 sends it
    assert {"userIdentity", "requestParameters", "responseElements"} <= set(record)
    assert record["s3"]["object"]["sequencer"]
    bridged = deliveries.s3_eventbridge_event(_record(), "us-east-1")
    assert detect(bridged).kind == "s3_eventbridge"
    assert bridged["detail-type"] == "Object Created" and bridged["source"] == "aws.s3"
    assert bridged["detail"]["object"] == {"key": "in/a b&c.json", "size": 5, "etag": "abc",
                                           "sequencer": bridged["detail"]["object"]["sequencer"]}
    assert bridged["detail"]["reason"] == "PutObject"
    assert bridged["resources"] == ["arn:aws:s3:::b"]


def test_sns_in_sqs_becomes_the_lambda_sns_record() -> None:
    notification = {"Type": "Notification", "MessageId": "m1",
                    "TopicArn": "arn:aws:sns:us-east-1:123456789012:t", "Message": "{}",
                    "Timestamp": "2026-01-01T00:00:00.000Z", "SignatureVersion": "1",
                    "Signature": "s", "SigningCertURL": "https://c", "UnsubscribeURL": "https://u",
                    "MessageAttributes": {"k": {"Type": "String", "Value": "v"}}}
    event = deliveries.sns_lambda_event(notification, "arn:aws:sns:us-east-1:123456789012:t:s")
    assert detect(event).kind == "sns"
    sns = event["Records"][0]["Sns"]
    assert sns["SigningCertUrl"] == "https://c" and sns["UnsubscribeUrl"] == "https://u"
    assert sns["MessageAttributes"] == {"k": {"Type": "String", "Value": "v"}}


def test_sqs_messages_become_the_lambda_batch() -> None:
    messages = [{"MessageId": "1", "ReceiptHandle": "r", "Body": "{}", "MD5OfBody": "x",
                 "Attributes": {"ApproximateReceiveCount": "1"},
                 "MessageAttributes": {"a": {"StringValue": "v", "DataType": "String"}}}]
    event = deliveries.sqs_lambda_event(messages, "arn:aws:sqs:us-east-1:123456789012:q",
                                        "us-east-1")
    assert detect(event).kind == "sqs"
    assert event["Records"][0]["messageAttributes"]["a"] == {
        "stringValue": "v", "binaryValue": None, "stringListValues": [], "binaryListValues": [],
        "dataType": "String"}


def test_which_messages_stay_on_the_queue() -> None:
    batch = [{"MessageId": i} for i in ("a", "b", "c")]
    partial = {"batchItemFailures": [{"itemIdentifier": "b"}]}
    assert deliveries.failed_ids(True, partial, batch, partial=True) == {"b"}
    assert deliveries.failed_ids(True, partial, batch, partial=False) == set()
    assert deliveries.failed_ids(False, None, batch, partial=True) == {"a", "b", "c"}
    unknown = {"batchItemFailures": [{"itemIdentifier": "zz"}]}
    assert deliveries.failed_ids(True, unknown, batch, partial=True) == {"a", "b", "c"}
    assert deliveries.failed_ids(True, {"batchItemFailures": []}, batch, partial=True) == set()


def test_local_callers() -> None:
    assert local_authorizer({}) is None
    assert local_authorizer({"authorization": "Basic abc"}) is None
    iam = local_authorizer({"authorization": "AWS4-HMAC-SHA256 Credential=AKIDX/20260101/"
                                             "us-east-1/execute-api/aws4_request, Signature=x"})
    assert iam is not None and iam["iam"]["userArn"] == "arn:aws:iam::123456789012:user/AKIDX"
    payload = base64.urlsafe_b64encode(json.dumps(
        {"sub": "u1", "exp": 1, "scope": "a b"}).encode()).decode().rstrip("=")
    jwt = local_authorizer({"authorization": f"Bearer h.{payload}.s"})
    assert jwt == {"jwt": {"claims": {"sub": "u1", "exp": "1", "scope": "a b"},
                           "scopes": ["a", "b"]}}
    assert jwt_claims("not-a-jwt") == {"sub": "local-user"}
    assert jwt_claims("a.%%%.c") == {"sub": "local-user"}


def test_static_mounts_never_leave_their_directory(tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "docs").mkdir(parents=True)
    (site / "index.html").write_text("home")
    (site / "docs" / "index.html").write_text("docs")
    (tmp_path / "secret").write_text("no")
    root, under = parse_mount(str(site)), parse_mount(f"{site}:/app/")
    assert root.prefix == "/" and under.prefix == "/app"
    assert find_file([root], "/") == site / "index.html"
    assert find_file([root], "/docs") == site / "docs" / "index.html"
    assert find_file([under], "/app/docs/") == site / "docs" / "index.html"
    assert find_file([under], "/application") is None
    for escape in ("/../secret", "/%2e%2e/secret", "/docs/../../secret"):
        assert find_file([root], escape) is None
    with pytest.raises(ValueError, match="not a directory"):
        parse_mount(str(tmp_path / "missing"))


def test_log_tail_is_the_last_4_kb() -> None:
    outcome = Outcome("r", ok=True, logs="START\n" + "x" * 5000 + "\nREPORT RequestId: r\n")
    tail = base64.b64decode(outcome.log_tail())
    assert len(tail) == 4096 and tail.endswith(b"REPORT RequestId: r\n")


def test_destination_record_and_activity_summary() -> None:
    failed = Outcome("req-1", ok=False, error={"errorMessage": "m", "errorType": "Conflict",
                                               "requestId": "req-1", "stackTrace": []})
    record = invocation_record({"action": "x"}, failed, "arn:aws:lambda:us-east-1:1:function:f", 3,
                               "RetriesExhausted")
    assert record["requestContext"] == {"requestId": "req-1",
                                        "functionArn": "arn:aws:lambda:us-east-1:1:function:f:$LATEST",
                                        "condition": "RetriesExhausted", "approximateInvokeCount": 3}
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert summary(failed) == "Conflict: m"
    assert summary(Outcome("r", ok=True, result={"statusCode": 204})) == "HTTP 204"
    assert summary(Outcome("r", ok=True, result={"batchItemFailures": [{}]})) == (
        "1 message(s) failed")
    log = Activity(size=2)
    for n in range(3):
        log.add({"n": n})
    assert [e["n"] for e in log.since(0)] == [1, 2]
    assert log.wait(3, 0.01) == []
    log.close()
    assert log.wait(0, 1) is None


@pytest.mark.parametrize(("parameters", "expected"), [
    ({}, {"log_format": "JSON", "application_log_level": None, "system_log_level": None,
          "snap_start": False, "reserved_concurrency": None}),
    ({"LogFormat": "JSON", "ApplicationLogLevel": "WARN", "SystemLogLevel": "DEBUG",
      "SnapStart": "On", "ReservedConcurrency": "3"},
     {"log_format": "JSON", "application_log_level": "WARN", "system_log_level": "DEBUG",
      "snap_start": True, "reserved_concurrency": 3}),
    ({"LogFormat": "Text", "ApplicationLogLevel": "WARN"},  # levels need JSON: not passed on
     {"log_format": "Text", "application_log_level": None, "system_log_level": None,
      "snap_start": False, "reserved_concurrency": None}),
])
def test_the_function_runs_with_the_templates_logging_snapstart_and_concurrency(
        parameters: dict[str, str], expected: dict[str, object]) -> None:
    from opsfn.tooling.infra_check import default_template
    from opsfn.tooling.local.function import function_info
    from opsfn.tooling.local.template_eval import Evaluator
    from opsfn.tooling.template_reader import load_template

    template = load_template(default_template())
    function = function_info(template, "OpsFunction", Evaluator(template, "us-east-1", parameters),
                             {}, "2026-01-01T00:00:00.000+0000")
    assert {key: getattr(function, key) for key in expected} == expected
    assert function.max_concurrency is None
    assert function.logging_config()["LogFormat"] == expected["log_format"]


def test_managed_instances_concurrency_comes_from_the_capacity_provider_config() -> None:
    from opsfn.tooling.local.function import function_info
    from opsfn.tooling.local.template_eval import Evaluator
    from opsfn.tooling.template_reader import load_template

    template = load_template(Path(__file__).parent / "ric_managed_template.yaml")
    function = function_info(template, "RicFunction", Evaluator(template, "us-east-1"), {},
                             "2026-01-01T00:00:00.000+0000")
    assert (function.max_concurrency, function.memory_mb, function.log_format) == (3, 2048, "Text")


def test_the_runtimes_error_type_names_the_typed_errors_code() -> None:
    from opsfn.tooling.local.process_runtime import typed_code

    assert typed_code("NotFound") == "not_found"
    assert typed_code("ValidationFailed") == "validation_failed"
    assert typed_code("Sandbox.Timedout") is None
    assert typed_code("KeyError") is None  # not an opsfn error
    assert typed_code("OpsfnError") == "internal_error"
    assert typed_code(None) is None


def test_without_the_source_checkout_opsfn_local_keeps_the_function_in_process(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from opsfn.tooling import packaging
    from opsfn.tooling.local import lambda_mode
    from opsfn.tooling.local.lambda_python import RuntimeUnavailable

    def no_checkout() -> Path:
        raise packaging.PackageError("opsfn package needs the source checkout")

    monkeypatch.setattr(packaging, "project_root", no_checkout)
    monkeypatch.setattr(lambda_mode, "find_lambda_python", lambda: lambda_mode.LambdaPython(
        "python3.13", Path("runtime")))  # found: the checkout is what is missing
    with pytest.raises(RuntimeUnavailable, match="source checkout"):
        lambda_mode.prepare(None, lambda message: None, Path("state"))


def test_a_message_received_twice_is_in_its_batch_once_with_the_latest_receipt() -> None:
    first = [{"MessageId": "a", "ReceiptHandle": "a1"}, {"MessageId": "b", "ReceiptHandle": "b1"}]
    more = [{"MessageId": "a", "ReceiptHandle": "a2"}, {"MessageId": "c", "ReceiptHandle": "c1"}]
    assert deliveries.merge_batch(first, more) == [
        {"MessageId": "a", "ReceiptHandle": "a2"}, {"MessageId": "b", "ReceiptHandle": "b1"},
        {"MessageId": "c", "ReceiptHandle": "c1"}]


def test_the_out_of_process_function_checks_access_as_the_in_process_one(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """An undeclared AWS call fails in opsfn local whichever way the function runs."""
    from types import SimpleNamespace

    from opsfn.tooling.local.stack import LocalStack

    stack = SimpleNamespace(endpoint_url="http://127.0.0.1:5000", app_reference=None)
    monkeypatch.delenv("OPSFN_ACCESS_CHECK", raising=False)
    env = LocalStack.function_environment(stack, {"TABLE_NAME": "t"})  # type: ignore[arg-type]
    assert env["OPSFN_ACCESS_CHECK"] == "deny" and env["TABLE_NAME"] == "t"
    monkeypatch.setenv("OPSFN_ACCESS_CHECK", "log")
    assert LocalStack.function_environment(stack, {})["OPSFN_ACCESS_CHECK"] == "log"  # type: ignore[arg-type]
