"""Permanent failures are parked once in the failed-events queue; the rest is retried as before."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from opsfn import Context, S3Object
from opsfn import testing as t
from opsfn.core import dead_letters
from opsfn.errors import Conflict, RecordsFailed
from opsfn.services import aws
from opsfn.testing import Client
from tests.core.apps import build

FAILED = "opsfn-failed-events"


@pytest.fixture
def calls() -> list[tuple[str, Any]]:
    return []


@pytest.fixture
def client(calls: list[tuple[str, Any]], moto_aws: None, monkeypatch: pytest.MonkeyPatch) -> Client:
    monkeypatch.setenv("TEST_BUCKET", "uploads-bucket")
    monkeypatch.setenv("TEST_WORK_QUEUE", "work-queue")
    monkeypatch.setenv("OPSFN_ACTION_QUEUE", "actions")
    url = aws.client("sqs").create_queue(QueueName=FAILED)["QueueUrl"]
    monkeypatch.setenv("OPSFN_FAILED_EVENTS_QUEUE", url)
    return Client(build(calls))


def parked() -> list[dict[str, Any]]:
    sqs = aws.client("sqs")
    url = sqs.get_queue_url(QueueName=FAILED)["QueueUrl"]
    found = []
    while True:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                    MessageAttributeNames=["All"]).get("Messages", [])
        if not batch:
            return found
        for message in batch:
            found.append({"body": json.loads(message["Body"]),
                          "error": message["MessageAttributes"]["error"]["StringValue"]})
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def test_a_permanently_failing_sqs_message_is_parked_not_retried(client: Client) -> None:
    reply = client.sqs([{"action": "echo", "name": "x"},            # not queue-enabled: NotExposed
                        {"action": "queued_echo", "name": "ok"},
                        {"action": "queued_echo"}], queue="actions")  # invalid: ValidationFailed
    assert reply == {"batchItemFailures": []}
    found = parked()
    assert sorted(item["error"] for item in found) == ["not_exposed", "validation_failed"]
    assert all(item["body"]["source"] == "sqs" and item["body"]["permanent"] for item in found)
    assert {json.loads(item["body"]["payload"]["body"])["action"] for item in found} == {
        "echo", "queued_echo"}


def _busy(*_: Any, **__: Any) -> None:
    raise Conflict("try later")


def test_a_retryable_sqs_failure_is_still_reported(client: Client, calls: list[Any]) -> None:
    app = build(calls)
    route = app.registry.actions["queued_echo"]
    route.func, route.binder = _busy, None
    reply = Client(app).sqs([{"action": "queued_echo", "name": "x"}], queue="actions")
    assert len(reply["batchItemFailures"]) == 1
    assert parked() == []


def test_a_mixed_async_failure_is_raised_for_a_retry(client: Client, calls: list[Any]) -> None:
    """One permanent and one retryable record: the retry may succeed, so nothing is parked."""
    app = build(calls)
    (route,) = [r for r in app.registry.routes if r.label.startswith("s3:${TEST_BUCKET}")]
    real = route.func

    def sometimes_busy(obj: S3Object, context: Context) -> None:
        if obj.key.endswith("busy"):
            raise Conflict("try later")
        real(obj, context)

    route.func, route.binder = sometimes_busy, None
    with pytest.raises(RecordsFailed) as failure:
        Client(app).handle(t.s3_event("uploads-bucket", ["uploads/fail", "uploads/busy"]))
    assert sorted(failure.value.codes) == ["conflict", "invalid_content"]
    assert not failure.value.permanent and parked() == []


def test_a_permanent_async_failure_is_parked_and_answered(client: Client) -> None:
    event = t.s3_event("uploads-bucket", ["uploads/fail"])
    assert client.handle(event) == {"parked": True, "error": "records_failed"}
    (item,) = parked()
    assert item["body"]["source"] == "s3" and item["body"]["payload"] == event


def test_an_unknown_bucket_or_schedule_is_parked(client: Client) -> None:
    event = t.s3_event("no-route-bucket", ["a"])  # NotFound, permanent
    assert client.handle(event)["parked"] is True
    event = t.schedule_event("no-such-schedule")
    assert client.handle(event)["parked"] is True
    assert [item["error"] for item in parked()] == ["records_failed", "not_found"]


def test_without_a_queue_failures_are_raised_as_before(client: Client,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPSFN_FAILED_EVENTS_QUEUE")
    with pytest.raises(RecordsFailed):
        client.handle(t.s3_event("uploads-bucket", ["uploads/fail"]))
    reply = client.sqs([{"action": "queued_echo"}], queue="actions")
    assert len(reply["batchItemFailures"]) == 1


def test_a_queue_that_cannot_take_it_loses_nothing(client: Client,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSFN_FAILED_EVENTS_QUEUE", "no-such-queue")
    with pytest.raises(RecordsFailed):
        client.handle(t.s3_event("uploads-bucket", ["uploads/fail"]))
    reply = client.sqs([{"action": "queued_echo"}], queue="actions")
    assert len(reply["batchItemFailures"]) == 1


def test_without_a_sender_failures_are_raised_with_the_reason(
        client: Client, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """An entry point that installs no sender parks nothing: the failure is raised for the
    platform's retries, and the log says why the queue was not used."""
    monkeypatch.setattr(dead_letters, "_senders", [])
    with pytest.raises(RecordsFailed):
        client.app(t.s3_event("uploads-bucket", ["uploads/fail"]), t.FakeLambdaContext())
    assert parked() == []
    assert "no sender is installed" in caplog.text


def test_the_handler_parks_with_the_sdk() -> None:
    """Importing the entry point installs the sender (a fresh process: nothing else has)."""
    code = ("from opsfn.core import dead_letters; from opsfn.services import failed_events; "
            "assert dead_letters._senders == []; import opsfn.handler; "
            "assert dead_letters._senders == [failed_events.send]; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False,
                         env={**os.environ, "POWERTOOLS_METRICS_DISABLED": "true"})
    assert out.stdout.strip() == "ok", out.stderr


def test_direct_invokes_always_raise(client: Client) -> None:
    from opsfn.errors import InvalidContent

    with pytest.raises(InvalidContent):
        client.invoke("bad_content")
    assert parked() == []


def _no_such_bucket(obj: S3Object, context: Context) -> None:
    from botocore.exceptions import ClientError

    raise ClientError({"Error": {"Code": "NoSuchBucket", "Message": "uploads-bucket"}}, "GetObject")


@pytest.mark.parametrize("wrapping", ["s3", "sns", "sqs", "sns_sqs"])
def test_a_permanent_aws_error_in_a_batch_of_records_is_parked(
        client: Client, calls: list[Any], wrapping: str) -> None:
    """The AWS error table's ``permanent`` survives the batch: a bucket that does not exist is
    parked once, whichever way its S3 event came, instead of being retried into a dead letter."""
    app = build(calls)
    (route,) = [r for r in app.registry.routes if r.label.startswith("s3:${TEST_BUCKET}")]
    route.func, route.binder = _no_such_bucket, None
    event = t.s3_event("uploads-bucket", ["uploads/a", "uploads/b"])
    if wrapping == "s3":
        assert Client(app).handle(event) == {"parked": True, "error": "records_failed"}
    elif wrapping == "sns":
        assert Client(app).handle(t.sns_event([event])) == {"parked": True,
                                                             "error": "records_failed"}
    else:
        body = t.sns_envelope(event) if wrapping == "sns_sqs" else event
        assert Client(app).sqs([body], queue="work-queue-unrouted") == {"batchItemFailures": []}
    (item,) = parked()
    assert item["error"] == "records_failed" and item["body"]["permanent"] is True


def test_a_retryable_aws_error_in_a_batch_is_raised_for_a_retry(
        client: Client, calls: list[Any]) -> None:
    from botocore.exceptions import ClientError

    def throttled(obj: S3Object, context: Context) -> None:
        raise ClientError({"Error": {"Code": "SlowDown", "Message": ""}}, "GetObject")

    app = build(calls)
    (route,) = [r for r in app.registry.routes if r.label.startswith("s3:${TEST_BUCKET}")]
    route.func, route.binder = throttled, None
    with pytest.raises(RecordsFailed) as failure:
        Client(app).handle(t.sns_event([t.s3_event("uploads-bucket", ["uploads/a"])]))
    assert failure.value.codes == ["upstream_error"] and not failure.value.permanent
    assert parked() == []
