"""Glue ETL triggering: landed files, the schedule and job state changes, against moto."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import pytest
from botocore.stub import ANY

from opsfn.errors import RecordsFailed, UpstreamError, ValidationFailed
from opsfn.services import aws
from opsfn.testing import Client, eventbridge_event, s3_event, schedule_event
from tests.operator_fixtures import ACCOUNT, REGION, Inbox
from tests.stubs import stubbed

BUCKET = "fhir-landing"
WORKFLOW = "fhir-etl"
PATIENT = {"resourceType": "Patient", "id": "example"}


@pytest.fixture
def lake(tables: None, inbox: Inbox, monkeypatch: pytest.MonkeyPatch) -> None:
    aws.client("s3").create_bucket(Bucket=BUCKET)
    aws.client("glue").create_workflow(Name=WORKFLOW)
    monkeypatch.setenv("LANDING_BUCKET", BUCKET)
    monkeypatch.setenv("GLUE_WORKFLOW_NAME", WORKFLOW)
    monkeypatch.setenv("LANDING_PREFIX", "landing/")
    monkeypatch.setenv("QUARANTINE_PREFIX", "quarantine/")


def land(key: str, body: Any = PATIENT) -> None:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    aws.client("s3").put_object(Bucket=BUCKET, Key=key, Body=data)


def runs() -> list[dict[str, Any]]:
    return list(aws.client("glue").get_workflow_runs(Name=WORKFLOW)["Runs"])


def finish_runs(status: str = "COMPLETED") -> None:
    """moto keeps runs RUNNING forever; the tests finish them."""
    from moto.glue.models import glue_backends

    for run in glue_backends[ACCOUNT][REGION].workflows[WORKFLOW].runs.values():
        run.status = status


def pending() -> int:
    item = aws.client("dynamodb").get_item(TableName="ops-locks", Key={
        "lockId": {"S": f"glue-pending#{WORKFLOW}"}}).get("Item")
    return int(item["pendingCount"]["N"]) if item else 0


def keys(prefix: str = "") -> list[str]:
    listing = aws.client("s3").list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return [o["Key"] for o in listing.get("Contents", [])]


def job_event(state: str, run_id: str = "jr_1", job: str = "bronze-to-silver",
              message: str | None = "boom") -> dict[str, Any]:
    detail = {"jobName": job, "severity": "ERROR" if state != "SUCCEEDED" else "INFO",
              "state": state, "jobRunId": run_id}
    if message:
        detail["message"] = message
    return eventbridge_event("aws.glue", "Glue Job State Change", detail)


# -- landed files ----------------------------------------------------------------------------------
@pytest.mark.parametrize("via", ["direct", "eventbridge", "sqs", "sns", "sns_sqs"])
def test_landed_file_starts_one_run_even_when_delivered_twice(client: Client, lake: None,
                                                              via: str) -> None:
    land("landing/batch 1/patient.json")
    reply = client.s3_put(BUCKET, "landing/batch 1/patient.json", via=via)
    if via.endswith("sqs"):
        assert reply == {"batchItemFailures": []}
    client.s3_put(BUCKET, "landing/batch 1/patient.json", via=via)  # the duplicate
    started = runs()
    assert len(started) == 1 and pending() == 0
    props = started[0]["WorkflowRunProperties"]
    assert props["trigger"] == "s3" and props["bucket"] == BUCKET
    assert props["key"] == "landing/batch 1/patient.json" and len(props["eventId"]) == 32


def test_files_arriving_together_coalesce_into_one_pending_run(client: Client, lake: None,
                                                               inbox: Inbox) -> None:
    for index in range(4):
        land(f"landing/p{index}.json")
    client.handle(s3_event(BUCKET, [f"landing/p{index}.json" for index in range(4)]))
    assert len(runs()) == 1 and pending() == 3
    client.handle(job_event("RUNNING", message=None))
    assert len(runs()) == 1  # a job still running starts nothing
    finish_runs()
    event = job_event("SUCCEEDED", message=None)
    result = client.handle(event)["result"]
    assert result["run"]["state"] == "started" and result["run"]["coveredPending"] == 3
    assert len(runs()) == 2 and pending() == 0
    assert runs()[-1]["WorkflowRunProperties"]["trigger"] == "pending"
    client.handle(event)  # duplicated delivery of the state change
    assert len(runs()) == 2
    assert inbox.messages() == []  # success alerts are off by default


def test_pending_waits_while_the_workflow_still_runs(client: Client, lake: None) -> None:
    land("landing/a.json")
    land("landing/b.json")
    client.s3_put(BUCKET, "landing/a.json")
    client.s3_put(BUCKET, "landing/b.json")
    result = client.handle(job_event("SUCCEEDED", message=None))["result"]
    assert result["run"]["state"] == "pending" and result["run"]["pending"] == 1
    assert len(runs()) == 1 and pending() == 1


def test_concurrent_runs_exceeded_counts_as_active(client: Client, lake: None) -> None:
    land("landing/a.json")
    with stubbed("glue") as stub:
        stub.add_response("get_workflow_runs", {"Runs": [
            {"Name": WORKFLOW, "WorkflowRunId": "wr_old", "Status": "COMPLETED"}]},
            {"Name": WORKFLOW})
        stub.add_client_error("start_workflow_run",
                              service_error_code="ConcurrentRunsExceededException",
                              http_status_code=400,
                              expected_params={"Name": WORKFLOW, "RunProperties": ANY})
        client.s3_put(BUCKET, "landing/a.json")
        stub.assert_no_pending_responses()
    assert pending() == 1


def test_active_run_found_on_a_later_page(client: Client, lake: None) -> None:
    land("landing/a.json")
    done = {"Name": WORKFLOW, "WorkflowRunId": "wr_old", "Status": "COMPLETED"}
    active = {"Name": WORKFLOW, "WorkflowRunId": "wr_active", "Status": "RUNNING"}
    with stubbed("glue") as stub:
        stub.add_response("get_workflow_runs", {"Runs": [done], "NextToken": "t1"}, {"Name": WORKFLOW})
        stub.add_response("get_workflow_runs", {"Runs": [active]},
                          {"Name": WORKFLOW, "NextToken": "t1"})
        client.s3_put(BUCKET, "landing/a.json")
        stub.assert_no_pending_responses()
    assert pending() == 1


def test_start_failure_raises_and_the_retry_starts(client: Client, lake: None,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    land("landing/a.json")
    monkeypatch.setenv("GLUE_WORKFLOW_NAME", "missing-workflow")
    with pytest.raises(RecordsFailed, match="upstream_error"):
        client.s3_put(BUCKET, "landing/a.json")
    monkeypatch.setenv("GLUE_WORKFLOW_NAME", WORKFLOW)
    client.s3_put(BUCKET, "landing/a.json")  # Lambda's retry of the same event
    assert len(runs()) == 1


def test_throttled_run_listing_fails_the_record(client: Client, lake: None) -> None:
    land("landing/a.json")
    with stubbed("glue") as stub:
        stub.add_client_error("get_workflow_runs", service_error_code="ThrottlingException",
                              http_status_code=400)
        reply = client.s3_put(BUCKET, "landing/a.json", via="sqs")
    assert len(reply["batchItemFailures"]) == 1
    client.s3_put(BUCKET, "landing/a.json", via="sqs")
    assert len(runs()) == 1


@pytest.mark.parametrize(("body", "reason"), [
    (b"{not json", "invalid_json"),
    (b"\xff\xfe", "invalid_json"),
    ({"id": "no-type"}, "missing_resource_type"),
    ([PATIENT, {"id": "no-type"}], "missing_resource_type"),  # an array names the bad entry
    ({"resourceType": "Banana"}, "unknown_resource_type"),
])
def test_invalid_file_is_quarantined_with_one_alert(client: Client, lake: None, inbox: Inbox,
                                                    body: Any, reason: str,
                                                    secret: Callable[[str], str]) -> None:
    secret("Jane Doe 1970-01-01")  # a patient's name in a file name: never logged or replied
    land("landing/Jane Doe 1970-01-01.json", body)
    client.s3_put(BUCKET, "landing/Jane Doe 1970-01-01.json")
    client.s3_put(BUCKET, "landing/Jane Doe 1970-01-01.json")  # duplicate
    assert keys("landing/") == []
    quarantined = keys("quarantine/")
    assert len(quarantined) == 1 and "Jane" not in quarantined[0]
    head = aws.client("s3").head_object(Bucket=BUCKET, Key=quarantined[0])
    assert head["Metadata"]["quarantine-reason"] == reason
    assert "Jane" not in json.dumps(head["Metadata"])  # the landed name is kept only as a digest
    assert head["Metadata"]["original-key-sha256"] == hashlib.sha256(
        b"landing/Jane Doe 1970-01-01.json").hexdigest()
    assert runs() == []
    messages = inbox.messages()
    assert len(messages) == 1
    assert reason in messages[0]["Subject"] and quarantined[0] in messages[0]["Message"]
    assert "Jane" not in json.dumps(messages[0])


def test_too_large_file_is_quarantined_unread(client: Client, lake: None,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANDING_MAX_BYTES", "10")
    land("landing/big.json")
    client.s3_put(BUCKET, "landing/big.json")
    assert len(keys("quarantine/")) == 1 and runs() == []


def test_quarantine_alert_failure_keeps_the_original(client: Client, lake: None, inbox: Inbox,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    land("landing/bad.json", b"nope")
    monkeypatch.setenv("ALERT_TOPIC_ARN", inbox.topic_arn + "-gone")
    with pytest.raises(RecordsFailed):
        client.s3_put(BUCKET, "landing/bad.json")
    assert keys("landing/") == ["landing/bad.json"]
    monkeypatch.setenv("ALERT_TOPIC_ARN", inbox.topic_arn)
    client.s3_put(BUCKET, "landing/bad.json")
    assert keys("landing/") == [] and len(inbox.messages()) == 1


def test_files_outside_the_landing_prefix_are_ignored(client: Client, lake: None) -> None:
    land("quarantine/x.json", b"nope")
    land("other/x.json")
    land("landing/readme.txt", b"text")
    client.s3_put(BUCKET, "quarantine/x.json")
    client.s3_put(BUCKET, "other/x.json")
    client.s3_put(BUCKET, "landing/readme.txt")
    assert runs() == [] and keys("quarantine/") == ["quarantine/x.json"]


def test_deleted_file_is_skipped(client: Client, lake: None) -> None:
    client.s3_put(BUCKET, "landing/gone.json")
    assert runs() == []


# -- schedule --------------------------------------------------------------------------------------
def test_schedule_requests_a_run_once_per_event(client: Client, lake: None) -> None:
    event = schedule_event("etl-scheduled-run")
    result = client.handle(event)["result"]
    assert result["state"] == "started"
    client.handle(event)
    assert len(runs()) == 1
    props = runs()[0]["WorkflowRunProperties"]
    assert props == {"trigger": "schedule", "eventId": event["id"]}


def test_schedule_while_active_is_pending_then_drains(client: Client, lake: None) -> None:
    client.schedule("etl-scheduled-run")
    assert client.schedule("etl-scheduled-run", scheduler=True)["result"]["state"] == "pending"
    finish_runs()
    result = client.schedule("etl-scheduled-run")["result"]
    assert result["state"] == "started" and result["coveredPending"] == 1
    assert pending() == 0 and len(runs()) == 2


def test_schedule_without_workflow_setting(client: Client, lake: None,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GLUE_WORKFLOW_NAME")
    from opsfn.errors import MissingSetting

    with pytest.raises(MissingSetting, match="GLUE_WORKFLOW_NAME"):
        client.schedule("etl-scheduled-run")


# -- job state changes -----------------------------------------------------------------------------
@pytest.mark.parametrize("state", ["FAILED", "TIMEOUT", "STOPPED"])
def test_failed_job_alerts_once(client: Client, lake: None, inbox: Inbox, state: str) -> None:
    event = job_event(state, "jr_42", message="Command failed with exit code 1")
    client.handle(event)
    client.handle(event)
    messages = inbox.messages()
    assert len(messages) == 1
    assert messages[0]["Subject"] == f"Glue job bronze-to-silver {state}"
    body = messages[0]["Message"]
    assert "Run id: jr_42" in body and f"State: {state}" in body
    assert "Command failed with exit code 1" in body
    assert messages[0]["MessageAttributes"]["state"]["Value"] == state


def test_success_alert_is_optional(client: Client, lake: None, inbox: Inbox,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    client.handle(job_event("SUCCEEDED", "jr_1", message=None))
    assert inbox.messages() == []
    monkeypatch.setenv("GLUE_ALERT_ON_SUCCESS", "true")
    client.handle(job_event("SUCCEEDED", "jr_2", message=None))
    assert [m["Subject"] for m in inbox.messages()] == ["Glue job bronze-to-silver SUCCEEDED"]


def test_other_jobs_are_ignored_when_a_job_list_is_set(client: Client, lake: None, inbox: Inbox,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLUE_JOB_NAMES", "bronze-to-silver, silver-to-gold")
    assert client.handle(job_event("FAILED", job="unrelated"))["result"] == {"state": "ignored"}
    client.handle(job_event("FAILED", job="silver-to-gold"))
    assert len(inbox.messages()) == 1


def test_job_event_validation(client: Client, lake: None) -> None:
    with pytest.raises(ValidationFailed) as caught:
        client.eventbridge("aws.glue", "Glue Job State Change", {"jobName": "x", "state": "FAILED"})
    assert caught.value.details[0]["loc"] == "detail.jobRunId"


def test_alert_failure_raises_and_the_retry_alerts(client: Client, lake: None, inbox: Inbox,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    event = job_event("FAILED", "jr_7")
    with stubbed("sns") as stub:
        stub.add_client_error("publish", service_error_code="Throttling", http_status_code=400)
        with pytest.raises(UpstreamError, match="Publish failed: Throttling"):
            client.handle(event)
    client.handle(event)
    assert len(inbox.messages()) == 1
