"""S3 in every wrapping, SQS partial batch failures, SNS, schedules, EventBridge and invokes."""

from __future__ import annotations

from typing import Any

import pytest

from opsfn import testing as t
from opsfn.errors import (
    InternalError,
    InvalidContent,
    NotFound,
    RecordsFailed,
    UnsupportedEvent,
    ValidationFailed,
)
from opsfn.testing import Client
from tests.core.apps import build


@pytest.fixture
def calls() -> list[tuple[str, Any]]:
    return []


@pytest.fixture
def client(calls: list[tuple[str, Any]], monkeypatch: pytest.MonkeyPatch) -> Client:
    monkeypatch.setenv("TEST_BUCKET", "uploads-bucket")
    monkeypatch.setenv("TEST_WORK_QUEUE", "https://sqs.us-east-1.amazonaws.com/123/work-queue")
    monkeypatch.setenv("OPSFN_ACTION_QUEUE", "arn:aws:sqs:us-east-1:123:actions")
    return Client(build(calls))


@pytest.mark.parametrize("via", ["direct", "eventbridge", "sqs", "sns", "sns_sqs"])
def test_s3_reaches_the_same_route_with_decoded_key(client: Client, calls: list[Any], via: str) -> None:
    reply = client.s3_put("uploads-bucket", "uploads/scan 1+2 ü.dcm", via=via)
    assert calls == [("s3_setting", ("uploads/scan 1+2 ü.dcm", via if via != "direct" else "s3"))]
    if via in ("sqs", "sns_sqs"):
        assert reply == {"batchItemFailures": []}


def test_s3_one_call_per_object_and_filters(client: Client, calls: list[Any]) -> None:
    event = t.s3_event("literal-bucket", ["in/a.json", "in/b.txt", "out/c.json", "in/d.json"])
    assert client.handle(event) == {"processed": 2, "records": 4}
    assert calls == [("s3_literal", "in/a.json"), ("s3_literal", "in/d.json")]


def test_s3_event_type_filter(client: Client, calls: list[Any]) -> None:
    event = t.s3_event("literal-bucket", "in/a.json", event_name="ObjectRemoved:Delete")
    assert client.handle(event) == {"processed": 0, "records": 1}
    assert calls == []


def test_s3_setting_change_is_picked_up(client: Client, calls: list[Any],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_BUCKET", "renamed")
    with pytest.raises(RecordsFailed):
        client.s3_put("uploads-bucket", "uploads/x")
    client.s3_put("renamed", "uploads/x")
    assert calls == [("s3_setting", ("uploads/x", "s3"))]


def test_s3_failures_raise_after_every_record_ran(client: Client, calls: list[Any]) -> None:
    event = t.s3_event("uploads-bucket", ["uploads/1", "uploads/2-fail", "uploads/3"])
    with pytest.raises(RecordsFailed) as info:
        client.handle(event)
    assert [c[1][0] for c in calls] == ["uploads/1", "uploads/3"]
    assert info.value.failed == 1 and info.value.total == 3
    assert info.value.permanent is True


def test_s3_unknown_bucket_fails(client: Client) -> None:
    with pytest.raises(RecordsFailed) as info:
        client.s3_put("someone-elses-bucket", "k")
    assert "not_found" in info.value.message


def test_s3_test_event_is_acknowledged(client: Client, calls: list[Any]) -> None:
    assert client.handle(t.s3_test_event("uploads-bucket"))["test_event"] is True
    assert client.sqs([t.s3_test_event("uploads-bucket")], queue="s3-events") == {
        "batchItemFailures": []}
    assert calls == []


def test_malformed_s3_record_fails_without_crashing(client: Client) -> None:
    event = t.s3_event("uploads-bucket", "uploads/a")
    del event["Records"][0]["s3"]["object"]
    with pytest.raises(RecordsFailed):
        client.handle(event)


def test_sqs_partial_batch_failure(client: Client, calls: list[Any]) -> None:
    event = t.sqs_event([{"name": "one"}, {"name": "fail"}, {"nope": 1}, "not json", {"name": "two"}],
                        queue="work-queue")
    ids = [r["messageId"] for r in event["Records"]]
    reply = client.handle(event)
    assert reply == {"batchItemFailures": [{"itemIdentifier": i} for i in ids[1:4]]}
    assert calls == [("work", "one"), ("work", "two")]


def test_sqs_fifo_stops_after_first_failure(client: Client, calls: list[Any],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_WORK_QUEUE", "work.fifo")
    event = t.sqs_event([{"name": "one"}, {"name": "fail"}, {"name": "three"}], queue="work.fifo")
    ids = [r["messageId"] for r in event["Records"]]
    assert client.handle(event) == {"batchItemFailures": [{"itemIdentifier": i} for i in ids[1:]]}
    assert calls == [("work", "one")]


def test_sqs_unknown_queue_fails_record(client: Client) -> None:
    event = t.sqs_event([{"name": "x"}], queue="who-knows")
    assert client.handle(event)["batchItemFailures"][0]["itemIdentifier"] == \
        event["Records"][0]["messageId"]


def test_sqs_malformed_record_fails_safely(client: Client) -> None:
    event = t.sqs_event([{"name": "x"}], queue="work-queue")
    del event["Records"][0]["body"]
    assert client.handle(event) == {"batchItemFailures": [
        {"itemIdentifier": event["Records"][0]["messageId"]}]}


def test_action_queue_reaches_queue_enabled_actions_only(client: Client, calls: list[Any]) -> None:
    event = t.sqs_event([{"action": "queued_echo", "name": "q"}, {"action": "echo", "name": "e"},
                         {"action": "nope"}, {"name": "no action"}], queue="actions")
    ids = [r["messageId"] for r in event["Records"]]
    assert client.handle(event) == {"batchItemFailures": [{"itemIdentifier": i} for i in ids[1:]]}
    assert calls == [("queued_echo", "q")]


def test_sns_message_reaches_topic_route(client: Client, calls: list[Any]) -> None:
    client.sns({"level": "high"}, topic="alerts")
    client.sqs([t.sns_envelope({"level": "low"}, topic="alerts")], queue="alert-subscription")
    assert calls == [("alerts", {"level": "high"}), ("alerts", {"level": "low"})]


def test_sns_unknown_topic_raises(client: Client) -> None:
    with pytest.raises(RecordsFailed):
        client.sns("hello", topic="nobody")


def test_sns_action_message_never_runs_action(client: Client, calls: list[Any]) -> None:
    with pytest.raises(RecordsFailed):
        client.sns({"action": "echo", "name": "x"}, topic="nobody")
    assert calls == []


def test_schedule_rule_and_scheduler(client: Client, calls: list[Any]) -> None:
    assert client.schedule("nightly")["result"] == {"ran": "nightly"}
    assert client.schedule("nightly", scheduler=True)["result"] == {"ran": "nightly"}
    assert calls == [("nightly", "nightly"), ("nightly", "nightly")]


def test_schedule_prefix_is_stripped(client: Client, calls: list[Any],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSFN_SCHEDULE_PREFIX", "prod-stack-")
    client.schedule("prod-stack-nightly")
    assert calls == [("nightly", "prod-stack-nightly")]


def test_unknown_schedule_raises(client: Client) -> None:
    with pytest.raises(NotFound):
        client.schedule("weekly")


def test_eventbridge_detail_is_validated(client: Client, calls: list[Any]) -> None:
    client.eventbridge("aws.glue", "Glue Job State Change", {"state": "FAILED", "jobName": "j"})
    assert calls == [("glue", "FAILED")]
    with pytest.raises(ValidationFailed) as info:
        client.eventbridge("aws.glue", "Glue Job State Change", {"status": "x"})
    assert info.value.details[0]["loc"] == "detail.state"
    with pytest.raises(NotFound):
        client.eventbridge("aws.glue", "Glue Crawler State Change", {"state": "x"})


def test_invoke_returns_json_result(client: Client) -> None:
    assert client.invoke("echo", name="hi", count=3) == {"name": "hi", "count": 3, "tags": []}


def test_invoke_errors_are_typed_and_clean(client: Client) -> None:
    with pytest.raises(ValidationFailed) as invalid:
        client.invoke("echo", count="x")
    assert {d["loc"] for d in invalid.value.details} == {"payload.name", "payload.count"}
    with pytest.raises(NotFound) as unknown:
        client.invoke("os.system", cmd="rm -rf /")
    assert "known actions" in unknown.value.message
    with pytest.raises(InternalError) as internal:
        client.invoke("explode")
    assert "secret-key-material" not in str(internal.value)
    assert internal.value.__cause__ is None and internal.value.__context__ is None
    with pytest.raises(InvalidContent):
        client.invoke("bad_content")


def test_unsupported_event_raises(client: Client) -> None:
    with pytest.raises(UnsupportedEvent):
        client.handle({"Records": [{"eventSource": "aws:kinesis"}]})
