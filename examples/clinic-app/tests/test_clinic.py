"""The clinic's routes through opsfn.testing, against moto: intake, triage, the directory."""

from __future__ import annotations

import json
from typing import Any

import pytest

from opsfn.testing import Client

from clinic_app.app import app
from clinic_app.triage import due_within_days, queue_name

from .conftest import BUCKET

REFERRAL = {"department": "cardiology", "urgency": "urgent", "reason": "chest pain on exertion",
            "contact": "gp.surgery@example.org"}


@pytest.fixture
def client() -> Client:
    return Client(app, auth="jwt", caller="practice-42")


def _objects(s3: Any, prefix: str) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])]


def test_referral_is_stored_under_a_random_key(client: Client, aws: Any) -> None:
    reply = client.post("/clinic/referrals", json_body=REFERRAL)
    assert reply.status == 202, reply.text
    referral_id = reply.json()["referralId"]
    assert _objects(aws, "referrals/") == [f"referrals/{referral_id}.json"]
    stored = json.loads(aws.get_object(Bucket=BUCKET, Key=f"referrals/{referral_id}.json")[
        "Body"].read())
    assert stored["submittedBy"] == "practice-42" and stored["department"] == "cardiology"
    assert "chest" not in reply.text  # the reply names the referral by its id only


def test_referral_needs_a_caller_and_a_valid_body(client: Client) -> None:
    assert Client(app).post("/clinic/referrals", json_body=REFERRAL).status == 401
    bad = client.post("/clinic/referrals", json_body={**REFERRAL, "contact": "not-an-address"})
    assert bad.status == 400 and "contact" in bad.text
    assert client.post("/clinic/referrals", json_body={**REFERRAL, "department": "x"}).status == 400


def test_stored_referral_is_triaged_through_eventbridge(client: Client, aws: Any) -> None:
    referral_id = client.post("/clinic/referrals", json_body=REFERRAL).json()["referralId"]
    client.s3_put(BUCKET, f"referrals/{referral_id}.json", via="eventbridge")
    triage = json.loads(aws.get_object(Bucket=BUCKET, Key=f"triage/{referral_id}.json")[
        "Body"].read())
    assert triage == {"referralId": referral_id, "queue": "cardiology-urgent", "dueWithinDays": 2}


def test_a_broken_referral_is_a_permanent_failure(client: Client, aws: Any) -> None:
    from opsfn.errors import RecordsFailed

    aws.put_object(Bucket=BUCKET, Key="referrals/broken.json", Body=b"{not json")
    with pytest.raises(RecordsFailed) as failed:
        client.s3_put(BUCKET, "referrals/broken.json")
    assert failed.value.permanent


def test_directory_custom_resource(client: Client, aws: Any) -> None:
    created = client.custom_resource("Create", "Custom::ClinicDirectory",
                                     {"Departments": ["cardiology", "radiology"]})
    assert created["Status"] == "SUCCESS", created
    assert created["Data"] == {"Key": "directory/clinic.json", "Departments": 2}
    directory = json.loads(aws.get_object(Bucket=BUCKET, Key="directory/clinic.json")["Body"].read())
    assert directory == {"name": "Northside", "departments": ["cardiology", "radiology"]}
    refused = client.custom_resource("Update", "Custom::ClinicDirectory", {"Departments": ["x"]},
                                     physical_id=created["PhysicalResourceId"])
    assert refused["Status"] == "FAILED" and "unknown departments" in refused["Reason"]
    deleted = client.custom_resource("Delete", "Custom::ClinicDirectory", {},
                                     physical_id=created["PhysicalResourceId"])
    assert deleted["Status"] == "SUCCESS" and _objects(aws, "directory/") == []


def test_builtin_health_is_served_beside_the_clinic_routes(client: Client) -> None:
    assert client.get("/health").json()["status"] == "ok"
    assert client.invoke("health")["routes"]["http"] == 2


def test_triage_rules() -> None:
    assert due_within_days("urgent", 3) == 3 and due_within_days("routine", 3) == 42
    assert queue_name("radiology", "soon") == "radiology-standard"
