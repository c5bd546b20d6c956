"""The relay end to end against moto: the stored message, the SES event, SendRawEmail's record.

Every delivery goes through the real handler's app (``lambda_handler``'s path, routes from the
manifest). Forwarded mail is compared byte for byte with what SES stored.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from opsfn.errors import Conflict, MissingSetting, RecordsFailed
from opsfn.handler import app
from opsfn.services import aws
from opsfn.testing import Client, FakeLambdaContext, ses_event
from tests.ses.conftest import (
    EIGHT_BIT_BODY,
    FORWARD_FROM,
    FORWARD_TO,
    IDEMPOTENCY,
    PATIENT,
    PATIENT_ADDRESS,
    SUBJECT,
    eight_bit,
    head_and_body,
    header_lines,
    multipart_with_attachment,
    oversized,
    plain_text,
)

Store = Callable[[str, bytes], None]
Sent = Callable[[], list[Any]]
MESSAGE_ID = "o3vrnil0e2ic28trm7dfhrc2v0cnbeccl4nbp0g1"
SECRETS = (PATIENT, PATIENT_ADDRESS, "jane.patient", SUBJECT, "Lab results", FORWARD_TO,
           "frontdesk", "inbox@clinic.example", "carer@", "juergen")


@pytest.fixture
def client() -> Client:
    return Client(app)


def _forwarded(sent: Sent) -> bytes:
    (message,) = sent()
    return message.raw_data.encode("utf-8")  # moto keeps what SES received, decoded as UTF-8


@pytest.mark.parametrize("build", [lambda: multipart_with_attachment()[0], plain_text, eight_bit],
                         ids=["multipart-attachment", "plain", "8bit"])
def test_a_stored_message_is_forwarded_with_its_body_byte_for_byte(
        build: Callable[[], bytes], client: Client, relay_env: dict[str, str], store: Store,
        sent: Sent) -> None:
    original = build()
    store(MESSAGE_ID, original)
    reply = client.ses(MESSAGE_ID)
    assert reply["disposition"] == "CONTINUE"
    (result,) = reply["results"]
    assert result["outcome"] == "forwarded" and result["duplicate"] is False
    (message,) = sent()
    assert message.source == FORWARD_FROM
    assert FORWARD_TO in message.destinations
    assert result["ses_message_id"] == message.id
    data = _forwarded(sent)
    assert head_and_body(data)[1] == head_and_body(original)[1]
    lines = header_lines(head_and_body(data)[0])
    original_lines = header_lines(head_and_body(original)[0])
    subject = [line for line in original_lines if line.startswith(b"Subject:")]
    assert [line for line in lines if line.startswith(b"Subject:")] == subject
    original_from = next(line for line in original_lines if line.startswith(b"From:"))
    assert b"Reply-To:" + original_from[5:] in lines
    assert b"From: " + FORWARD_FROM.encode() in lines
    assert not any(line.startswith((b"DKIM-Signature:", b"Return-Path:", b"Message-ID:"))
                   for line in lines)


def test_eight_bit_body_bytes_survive(client: Client, relay_env: dict[str, str], store: Store,
                                      sent: Sent) -> None:
    store(MESSAGE_ID, eight_bit())
    client.ses(MESSAGE_ID)
    data = _forwarded(sent)
    assert data.endswith(b"\r\n\r\n" + EIGHT_BIT_BODY * 3)
    assert b"Content-Transfer-Encoding: 8bit\r\n" in data


def test_the_attachment_parses_back_identical(client: Client, relay_env: dict[str, str],
                                              store: Store, sent: Sent) -> None:
    import email
    from email.policy import default

    original, pdf = multipart_with_attachment()
    store(MESSAGE_ID, original)
    client.ses(MESSAGE_ID)
    message = email.message_from_bytes(_forwarded(sent), policy=default)
    assert message["Subject"] == SUBJECT
    assert message["Reply-To"] == f"{PATIENT} <{PATIENT_ADDRESS}>"
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_content() == pdf


@pytest.mark.parametrize(("verdicts", "blocked"), [
    ({"spam": "FAIL"}, ["spam"]), ({"virus": "FAIL"}, ["virus"]), ({"spf": "FAIL"}, ["spf"]),
    ({"dmarc": "FAIL"}, ["dmarc"]), ({"spam": "FAIL", "virus": "FAIL"}, ["spam", "virus"]),
])
def test_failed_verdicts_stop_the_message_and_are_counted(
        verdicts: dict[str, str], blocked: list[str], client: Client, relay_env: dict[str, str],
        store: Store, sent: Sent, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    store(MESSAGE_ID, plain_text())
    (result,) = client.ses(MESSAGE_ID, verdicts=verdicts)["results"]
    assert result["outcome"] == "blocked" and result["blocked_by"] == blocked
    assert sent() == []
    documents = [json.loads(line) for line in capsys.readouterr().out.splitlines()
                 if "MailBlocked" in line]
    assert sorted(d["verdict"] for d in documents) == blocked
    assert all(d["MailBlocked"] == 1 and d["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "opsfn"
               for d in documents)


def test_the_setting_chooses_which_verdicts_count(client: Client, relay_env: dict[str, str],
                                                  store: Store, sent: Sent,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    store(MESSAGE_ID, plain_text())
    store("second0000000000", plain_text())
    # DKIM is not among the defaults: a FAIL there alone is forwarded.
    (result,) = client.ses(MESSAGE_ID, verdicts={"dkim": "FAIL", "spam": "GRAY"})["results"]
    assert result["outcome"] == "forwarded"
    monkeypatch.setenv("SES_RELAY_BLOCK_VERDICTS", "dkim")
    (result,) = client.ses("second0000000000", verdicts={"dkim": "FAIL"})["results"]
    assert result["outcome"] == "blocked"
    assert len(sent()) == 1
    monkeypatch.setenv("SES_RELAY_BLOCK_VERDICTS", "spam,bogus")
    with pytest.raises(RecordsFailed, match="invalid_setting"):
        client.ses("third00000000000")


def test_a_redelivered_event_forwards_nothing_twice(client: Client, relay_env: dict[str, str],
                                                    store: Store, sent: Sent) -> None:
    store(MESSAGE_ID, plain_text())
    event = ses_event(MESSAGE_ID)
    first = client.handle(event)["results"][0]
    second = client.handle(event)["results"][0]
    assert first["outcome"] == second["outcome"] == "forwarded"
    assert (first["duplicate"], second["duplicate"]) == (False, True)
    assert second["ses_message_id"] == first["ses_message_id"]
    assert len(sent()) == 1


def in_flight(key: str, seconds: int) -> None:
    """The marker a delivery still at work holds in the idempotency table."""
    aws.client("dynamodb").put_item(TableName=IDEMPOTENCY, Item={
        "id": {"S": key}, "status": {"S": "INPROGRESS"}, "owner": {"S": "first-delivery"},
        "fingerprint": {"S": ""}, "expiration": {"N": str(int(time.time() + seconds))}})


def test_a_copy_arriving_while_the_first_sends_is_retried_later(
        client: Client, relay_env: dict[str, str], store: Store, sent: Sent) -> None:
    store(MESSAGE_ID, plain_text())
    in_flight(f"ses-relay:{MESSAGE_ID}", seconds=60)  # the first delivery, still sending
    with pytest.raises(RecordsFailed) as caught:
        client.ses(MESSAGE_ID)
    assert caught.value.codes == [Conflict.code] and not caught.value.permanent
    assert sent() == []
    aws.client("dynamodb").delete_item(TableName=IDEMPOTENCY,
                                       Key={"id": {"S": f"ses-relay:{MESSAGE_ID}"}})
    assert client.ses(MESSAGE_ID)["results"][0]["outcome"] == "forwarded"
    assert len(sent()) == 1


def test_a_failed_send_leaves_no_record_so_the_retry_sends(
        client: Client, relay_env: dict[str, str], store: Store, sent: Sent,
        monkeypatch: pytest.MonkeyPatch) -> None:
    store(MESSAGE_ID, plain_text())
    monkeypatch.setenv("SES_FORWARD_FROM", "relay@unverified.example")  # SES refuses the sender
    with pytest.raises(RecordsFailed) as caught:
        client.ses(MESSAGE_ID)
    assert caught.value.codes == ["upstream_error"]
    monkeypatch.setenv("SES_FORWARD_FROM", FORWARD_FROM)
    assert client.ses(MESSAGE_ID)["results"][0]["duplicate"] is False
    assert len(sent()) == 1


def test_an_oversized_message_fails_clearly_every_time_and_is_counted_once(
        client: Client, relay_env: dict[str, str], store: Store, sent: Sent,
        log_lines: Callable[[], list[str]], capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    data = oversized()
    store(MESSAGE_ID, data)
    for _ in range(2):
        with pytest.raises(RecordsFailed) as caught:
            client.ses(MESSAGE_ID)
        assert caught.value.codes == ["payload_too_large"] and caught.value.permanent
    assert sent() == []
    out = capsys.readouterr().out
    assert sum('"MailTooLarge":1' in line for line in out.splitlines()) == 1
    warnings = [json.loads(line) for line in log_lines() if "too large" in line]
    assert warnings and warnings[0]["limit"] == 10 * 1024 * 1024
    assert warnings[0]["encoded_bytes"] > warnings[0]["limit"]


def test_the_limit_is_measured_after_encoding(client: Client, relay_env: dict[str, str],
                                              store: Store, sent: Sent,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A message under the limit raw but over it base64-encoded is refused; at it, it is sent."""
    from opsfn.routes.ses.relay_mime import encoded_size, rewrite

    data = plain_text()
    size = len(rewrite(data, FORWARD_FROM).data)
    monkeypatch.setenv("SES_RELAY_MAX_ENCODED_BYTES", str(encoded_size(size)))
    store(MESSAGE_ID, data)
    assert client.ses(MESSAGE_ID)["results"][0]["outcome"] == "forwarded"
    monkeypatch.setenv("SES_RELAY_MAX_ENCODED_BYTES", str(encoded_size(size) - 1))
    store("second0000000000", data)
    with pytest.raises(RecordsFailed, match="payload_too_large"):
        client.ses("second0000000000")
    assert size < encoded_size(size) - 1  # the raw size alone would have passed
    assert len(sent()) == 1


def test_every_record_is_tried_before_the_failure_is_raised(
        client: Client, relay_env: dict[str, str], store: Store, sent: Sent) -> None:
    store("good000000000001", plain_text())
    store("good000000000002", eight_bit())
    with pytest.raises(RecordsFailed) as caught:
        client.ses(["good000000000001", "missing000000001", "good000000000002"])
    assert caught.value.failed == 1 and caught.value.total == 3
    assert caught.value.codes == ["not_found"] and caught.value.permanent
    assert len(sent()) == 2


def test_unsafe_message_ids_read_nothing(client: Client, relay_env: dict[str, str],
                                         store: Store, sent: Sent) -> None:
    store("x", plain_text())
    for bad in ("../inbound/x", "a/b", "", "a" * 200, "\u202ex"):
        with pytest.raises(RecordsFailed, match="validation_failed"):
            client.ses(bad)
    assert sent() == []


def test_missing_settings_fail_retryably(client: Client, relay_env: dict[str, str],
                                         store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    store(MESSAGE_ID, plain_text())
    monkeypatch.delenv("SES_FORWARD_TO")
    with pytest.raises(RecordsFailed) as caught:
        client.ses(MESSAGE_ID)
    assert caught.value.codes == [MissingSetting("SES_FORWARD_TO").code]
    assert not caught.value.permanent
    monkeypatch.setenv("SES_FORWARD_TO", "not-an-address")
    with pytest.raises(RecordsFailed, match="invalid_setting"):
        client.ses(MESSAGE_ID)


def test_several_forward_addresses_are_all_destinations(
        client: Client, relay_env: dict[str, str], store: Store, sent: Sent,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SES_FORWARD_TO", f"{FORWARD_TO}, Nurse <nurse@practice.example>")
    store(MESSAGE_ID, plain_text())
    (result,) = client.ses(MESSAGE_ID)["results"]
    assert result["recipients"] == 2
    assert {FORWARD_TO, "nurse@practice.example"} <= set(sent()[0].destinations)


def test_no_address_or_subject_in_logs_metrics_or_replies(
        client: Client, relay_env: dict[str, str], store: Store,
        caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """opsfn's own log lines (botocore's DEBUG request dumps are not emitted in Lambda)."""
    from opsfn.core.observability import get_logger

    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    caplog.set_level("DEBUG")
    formatter = get_logger().registered_formatter
    store("good000000000001", multipart_with_attachment()[0])
    store("good000000000002", eight_bit())
    store("large00000000001", oversized())
    outputs: list[str] = []
    outputs.append(json.dumps(client.ses("good000000000001", sender=PATIENT_ADDRESS,
                                         subject=SUBJECT)))
    outputs.append(json.dumps(client.ses("good000000000002", verdicts={"spam": "FAIL"},
                                         sender=PATIENT_ADDRESS)))
    outputs.append(json.dumps(client.ses("good000000000001")))  # a duplicate
    for message_id in ("large00000000001", "missing000000001"):
        with pytest.raises(RecordsFailed) as caught:
            client.ses(message_id, sender=PATIENT_ADDRESS, subject=SUBJECT)
        outputs.append(caught.value.message)
    monkeypatch.setenv("SES_FORWARD_FROM", "relay@unverified.example")
    store("good000000000003", plain_text())
    with pytest.raises(RecordsFailed) as caught:
        client.ses("good000000000003", sender=PATIENT_ADDRESS)
    outputs.append(caught.value.message)
    ours = [formatter.format(r) for r in caplog.records if r.name.startswith("opsfn")]
    text = "\n".join([*outputs, *ours, capsys.readouterr().out])
    assert "MailForwarded" in text and "MailBlocked" in text and "inbound mail" in text
    for secret in SECRETS:
        assert secret not in text, secret


def test_the_route_is_reached_only_by_ses_events(relay_env: dict[str, str], store: Store,
                                                 sent: Sent) -> None:
    """The same payload by invoke, SQS or SNS reaches nothing; only the aws:ses record does."""
    from opsfn import testing as t
    from opsfn.errors import NotFound

    store(MESSAGE_ID, plain_text())
    record = ses_event(MESSAGE_ID)
    with pytest.raises(NotFound):
        app(t.invoke_event("relay_inbound_mail", ses=record["Records"][0]["ses"]),
            FakeLambdaContext())
    assert app(t.sqs_event([record]), FakeLambdaContext())["batchItemFailures"]
    with pytest.raises(RecordsFailed):
        app(t.sns_event(record), FakeLambdaContext())
    assert sent() == []
    app(record, FakeLambdaContext())
    assert len(sent()) == 1


def test_a_parked_event_keeps_what_a_redrive_needs_and_no_patient_data(
        client: Client, relay_env: dict[str, str], store: Store, sent: Sent,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A permanent failure is parked in the failed-events queue, which operators read: the
    headers, the subject and the addresses stay out of it, and the parked event still redrives."""
    queue = aws.client("sqs").create_queue(QueueName="failed-events")["QueueUrl"]
    monkeypatch.setenv("OPSFN_FAILED_EVENTS_QUEUE", queue)
    event = ses_event(MESSAGE_ID, sender=PATIENT_ADDRESS, subject=SUBJECT,
                      recipients=[f"{PATIENT} <{PATIENT_ADDRESS}>"])
    assert client.handle(event) == {"parked": True, "error": "records_failed"}  # not stored yet
    (message,) = aws.client("sqs").receive_message(QueueUrl=queue)["Messages"]
    for value in SECRETS:
        assert value not in message["Body"]
    parked = json.loads(message["Body"])
    assert parked["source"] == "ses"
    (record,) = parked["payload"]["Records"]
    assert record["ses"]["mail"] == {"messageId": MESSAGE_ID, "timestamp": "2026-01-01T00:00:00.000Z",
                                     "headersTruncated": False}
    assert record["ses"]["receipt"]["spamVerdict"] == {"status": "PASS"}
    store(MESSAGE_ID, plain_text())  # the cause mended, the operator redrives the parked event
    assert client.handle(parked["payload"])["results"][0]["outcome"] == "forwarded"
    assert len(sent()) == 1
