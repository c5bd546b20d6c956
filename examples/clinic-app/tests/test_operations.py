"""The clinic's other triggers through opsfn.testing, against moto: one route of each kind."""

from __future__ import annotations

import json
from typing import Any

import pytest

from opsfn.errors import NotFound, ValidationFailed
from opsfn.testing import Client, eventbridge_event, schedule_event, sns_event, sqs_event

from clinic_app.app import app

from .conftest import BUCKET, LAB_QUEUE

REFERRAL_ID = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def client() -> Client:
    return Client(app)


def _json(s3: Any, key: str) -> Any:
    return json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())


def _keys(s3: Any, prefix: str) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])]


def test_action_answers_the_triage_or_not_found(client: Client, aws: Any) -> None:
    with pytest.raises(NotFound):
        client.invoke("referral_status", referralId=REFERRAL_ID)
    triage = {"referralId": REFERRAL_ID, "queue": "radiology-soon", "dueWithinDays": 14}
    aws.put_object(Bucket=BUCKET, Key=f"triage/{REFERRAL_ID}.json", Body=json.dumps(triage))
    assert client.invoke("referral_status", referralId=REFERRAL_ID) == triage
    with pytest.raises(ValidationFailed):
        client.invoke("referral_status", referralId="../referrals/x")


def test_schedule_writes_one_digest_of_counts(client: Client, aws: Any) -> None:
    for n in range(3):
        aws.put_object(Bucket=BUCKET, Key=f"triage/{n:032x}.json", Body=b"{}")
    event = schedule_event("referral-digest", scheduler=True)
    first = client.handle(event)
    assert first["schedule"] == "schedule:referral-digest" and first["result"]["triaged"] == 3
    client.handle(event)  # the same firing delivered twice: the same digest object
    (key,) = _keys(aws, "digest/")
    assert _json(aws, key)["triaged"] == 3


def test_eventbridge_records_the_appointment(client: Client, aws: Any) -> None:
    client.handle(eventbridge_event("clinic.booking", "Appointment Booked", {
        "referralId": REFERRAL_ID, "slot": "2027-01-05T09:30:00+00:00"}))
    assert _json(aws, f"appointments/{REFERRAL_ID}.json") == {
        "referralId": REFERRAL_ID, "slot": "2027-01-05T09:30:00+00:00"}


def test_sqs_stores_each_result_and_fails_only_the_bad_one(client: Client, aws: Any) -> None:
    good = {"referralId": REFERRAL_ID, "test": "troponin", "outcome": "normal"}
    reply = client.handle(sqs_event([good, {"referralId": "nope"}, good], queue=LAB_QUEUE))
    assert len(reply["batchItemFailures"]) == 1
    keys = _keys(aws, "labs/")
    assert len(keys) == 2 and all(REFERRAL_ID not in k for k in keys)  # random keys


def test_sns_counts_a_notice_without_logging_it(client: Client,
                                                caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO")
    client.handle(sns_event("the lift is out of order", topic="clinic-notices"))
    (notice,) = [r for r in caplog.records if r.getMessage() == "notice received"]
    assert getattr(notice, "bytes", None) == 24
    assert not any("lift" in str(vars(r)) for r in caplog.records)
