"""Routes near the Lambda deadline stop cleanly and leave state the next delivery resumes from.

The sync checks its budget before each step, so a context whose time runs out at a known step
makes it stop there; imaging, incident actions and the Glue trigger cannot stop themselves
mid-call, so the runtime killing them is simulated, and the test checks what they left: a lease or
an in-flight marker that ends with the deadline (a copy before then is refused for a retry, never
answered as a duplicate), after which a redelivery finishes the work exactly once.
"""

from __future__ import annotations

import json
import os
import time
import types
from pathlib import Path
from typing import Any

import pytest

from opsfn.errors import Conflict, DeadlineExceeded, RecordsFailed, UpstreamError
from opsfn.handler import app
from opsfn.services import aws
from opsfn.testing import (
    Client,
    FakeLambdaContext,
    eventbridge_event,
    s3_event,
    schedule_event,
    ses_event,
    sqs_event,
)
from opsfn.tooling.faults import inject_faults
from tests.tables import create_table, drain_queue

from ._faults_support import SteppedContext, no_backoff, set_attempts  # noqa: F401 - fixture

QUEUE = "opsfn-actions"
BUCKET = "sync-deadline"
FILES = 24


class Killed(BaseException):
    """The runtime ending the invocation at its deadline: no handler of the route runs."""


@pytest.fixture
def locks_table(moto_aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    create_table("ops-locks", "lockId", "expiresAt")
    monkeypatch.setenv("LOCK_TABLE", "ops-locks")


# -- the sync -------------------------------------------------------------------------------------
@pytest.fixture
def tree(locks_table: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "efs"
    for index in range(FILES):
        path = root / f"dir{index % 4}" / f"file{index:03d}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f"content {index}\n".encode() * (index + 1))
    hour_ago = time.time_ns() - 3600 * 10**9
    for path in root.rglob("*"):
        os.utime(path, ns=(hour_ago, hour_ago))
    aws.client("s3").create_bucket(Bucket=BUCKET)
    aws.client("sqs").create_queue(QueueName=QUEUE)
    for name, value in {"OPSFN_ACTION_QUEUE": QUEUE, "SYNC_SOURCE_DIR": str(root),
                        "SYNC_BUCKET": BUCKET, "SYNC_PREFIX": "efs/", "SYNC_CONCURRENCY": "2"}.items():
        monkeypatch.setenv(name, value)
    return root


def _objects(prefix: str) -> dict[str, bytes]:
    s3 = aws.client("s3")
    listing = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
    return {o["Key"][len(prefix):]: s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read()
            for o in listing}


def _queued() -> list[dict[str, Any]]:
    return drain_queue(aws.client("sqs").get_queue_url(QueueName=QUEUE)["QueueUrl"])


def test_sync_stops_at_its_budget_and_the_continuations_finish_exactly(tree: Path) -> None:
    local = {str(p.relative_to(tree)): p.read_bytes() for p in tree.rglob("*") if p.is_file()}
    # The first look is the lock's TTL; then one per step: time runs out after six steps.
    first = app({"action": "sync_efs_to_s3"}, SteppedContext(calls=7))
    assert first["status"] == "continued" and first["complete"] is False
    assert 0 < first["uploaded"] < FILES
    copied = _objects("efs/")
    assert len(copied) == first["uploaded"] and all(copied[k] == local[k] for k in copied)
    assert aws.client("dynamodb").scan(TableName="ops-locks", ScanFilter={"lockId": {
        "AttributeValueList": [{"S": "sync:"}], "ComparisonOperator": "BEGINS_WITH"}})["Count"] == 0
    uploads = [first["uploaded"]]
    replies = [first]
    delivered: list[dict[str, Any]] = []
    while items := _queued():
        assert len(items) == 1 and items[0]["resume_after"] and items[0]["seq"] == len(replies)
        delivered += items
        reply = app(sqs_event(items, QUEUE), SteppedContext(calls=7))
        assert reply == {"batchItemFailures": []}
        replies.append(items[0])
        uploads.append(len(_objects("efs/")) - sum(uploads))
        assert len(replies) < FILES, "the sync makes no progress"
    assert len(replies) > 2  # it really stopped more than once
    assert _objects("efs/") == local  # everything, exactly once each
    assert sum(uploads) == FILES and all(n > 0 for n in uploads)
    # A redelivered continuation finds its done marker and does nothing.
    assert app(sqs_event([delivered[0]], QUEUE), FakeLambdaContext()) == {"batchItemFailures": []}
    assert _queued() == []
    # The joined manifest is complete: the next run uploads nothing and reads no listing.
    again = Client(app, timeout_ms=600_000).invoke("sync_efs_to_s3")
    assert again["mode"] == "manifest" and again["uploaded"] == 0 and again["skipped"] == FILES
    state = [k for k in _objects(".opsfn-sync/") if "/runs/" in k]
    assert state == []  # partial segments were folded into the manifest and removed


def test_sync_without_time_for_one_step_fails_clearly_and_leaves_nothing(tree: Path) -> None:
    with pytest.raises(DeadlineExceeded) as caught:
        app({"action": "sync_efs_to_s3"}, SteppedContext(calls=1))
    assert "SYNC_DEADLINE_MARGIN_MS" in caught.value.message and not caught.value.permanent
    assert _objects("") == {} and _queued() == []
    done = Client(app, timeout_ms=600_000).invoke("sync_efs_to_s3")  # the lock was released
    assert done["complete"] is True and done["uploaded"] == FILES


# -- image processing -----------------------------------------------------------------------------
@pytest.fixture
def imaging(moto_aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.imaging.conftest import BUCKET as UPLOADS
    from tests.imaging.conftest import TABLE, make_resources

    monkeypatch.setenv("UPLOAD_BUCKET", UPLOADS)
    monkeypatch.setenv("TABLE_NAME", TABLE)
    make_resources()


def test_processing_killed_at_the_deadline_resumes_after_its_lease(
        imaging: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from opsfn.routes.imaging import jobs, labels
    from tests.imaging.conftest import BUCKET as UPLOADS
    from tests.imaging.conftest import dicom_bytes

    client = Client(app, timeout_ms=5_000)
    job_id = client.post("/request-upload", json_body={"fileName": "ct.dcm"}).json()["jobId"]
    key = f"uploads/{job_id}/original"
    aws.client("s3").put_object(Bucket=UPLOADS, Key=key, Body=dicom_bytes("CT_small.dcm"))
    real_detect = labels.detect

    def killed(*_: Any, **__: Any) -> Any:
        raise Killed

    monkeypatch.setattr(labels, "detect", killed)
    started = time.time()
    with pytest.raises(Killed):
        client.s3_put(UPLOADS, key)
    job = jobs.get(job_id)
    assert job is not None and job["status"] == "processing"
    # The lease covers the whole invocation and ends soon after it (60 s at least).
    assert started + 5 <= job["leaseUntil"] <= time.time() + 60 + 1
    monkeypatch.setattr(labels, "detect", real_detect)
    client.s3_put(UPLOADS, key)  # a duplicate while the lease runs: the job is not taken over
    assert jobs.get(job_id) == job

    later = types.SimpleNamespace(time=lambda: time.time() + 61, strftime=time.strftime,
                                  gmtime=time.gmtime)
    monkeypatch.setattr(jobs, "time", later)  # the async retry comes a minute later
    client.s3_put(UPLOADS, key)
    done = jobs.get(job_id)
    assert done is not None and done["status"] == "complete" and done["attempts"] == 2
    assert done["results"]["Labels"] and done["imageKey"] == f"converted/{job_id}/image.png"
    converted = aws.client("s3").list_objects_v2(Bucket=UPLOADS, Prefix=f"converted/{job_id}/")
    assert [o["Key"] for o in converted["Contents"]] == [done["imageKey"]]


# -- idempotent routes: incident actions and the Glue trigger ------------------------------------
@pytest.fixture
def marker_tables(moto_aws: None, monkeypatch: pytest.MonkeyPatch) -> str:
    from opsfn.services import alerts

    create_table("ops-idempotency", "id", "expiration")
    create_table("ops-audit", "auditId", None)
    create_table("ops-locks", "lockId", "expiresAt")
    for name, value in {"IDEMPOTENCY_TABLE": "ops-idempotency", "AUDIT_TABLE": "ops-audit",
                        "LOCK_TABLE": "ops-locks"}.items():
        monkeypatch.setenv(name, value)
    topic = aws.client("sns").create_topic(Name="alerts")["TopicArn"]
    monkeypatch.setenv("ALERT_TOPIC_ARN", topic)
    return alerts.__name__


def _marker() -> dict[str, Any]:
    (record,) = aws.client("dynamodb").scan(TableName="ops-idempotency")["Items"]
    return record


def _killed_then_redone(monkeypatch: pytest.MonkeyPatch, module: Any, name: str, event: Any,
                        deliver: Any) -> tuple[Any, Any]:
    """Kill the delivery inside ``module.name``; check what it left; redo it after the deadline.

    Returns the retry's reply and the reply to a duplicate after it.
    """
    from opsfn.services import idempotency

    real = getattr(module, name)
    calls: list[Any] = []

    def killed(*_: Any, **__: Any) -> Any:
        raise Killed

    monkeypatch.setattr(module, name, killed)
    started = time.time()
    with pytest.raises(Killed):
        deliver(event, FakeLambdaContext(4_000))
    record = _marker()
    assert record["status"]["S"] == "INPROGRESS"
    # The marker lasts as long as the invocation could (4 s) plus the margin, and no longer.
    expiry = int(record["expiration"]["N"])
    assert started + 4 + idempotency.MARGIN_S - 2 <= expiry <= time.time() + 4 + idempotency.MARGIN_S

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, counting)
    with pytest.raises(Conflict):
        deliver(event, FakeLambdaContext())  # before the deadline: it may still be running
    assert calls == []  # refused for a retry, never answered as a duplicate
    later = types.SimpleNamespace(time=lambda: time.time() + 4 + idempotency.MARGIN_S + 1)
    monkeypatch.setattr(idempotency, "time", later)  # the source's retry, after the deadline
    reply = deliver(event, FakeLambdaContext())
    assert len(calls) == 1 and _marker()["status"]["S"] == "COMPLETED"
    again = deliver(event, FakeLambdaContext())  # and a duplicate after that changes nothing
    assert len(calls) == 1
    return reply, again


def test_incident_action_killed_mid_way_is_redone_only_after_the_deadline(
        marker_tables: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from opsfn.services import alerts

    monkeypatch.setenv("INCIDENT_TARGETS", json.dumps(
        {"api": {"kind": "ecs", "cluster": "prod", "service": "api"}}))
    payload = {"action": "notify_human", "target": "api", "incidentId": "inc-9", "priority": "high"}
    first, again = _killed_then_redone(monkeypatch, alerts, "publish", payload, app)
    assert first["messageId"] and first["success"] is True and again == first


def _done(**outcome: Any) -> Any:
    return lambda *_: dict(outcome)


# Where each other incident action is killed: the call that changes the target (stood in for
# here, the contract tests run it against moto and redis-server) or, for ``none``, its audit.
KILL_POINTS = {
    "restart_service": ("remediation", "restart_ecs", "api"),
    "scale_up": ("remediation", "scale_ecs", "api"),
    "clear_cache": ("cache_flush", "flush", "cache"),
    "none": ("audit", "record", None),
}


@pytest.mark.parametrize("action", sorted(KILL_POINTS))
def test_every_incident_action_killed_mid_way_is_redone_once_after_the_deadline(
        marker_tables: str, monkeypatch: pytest.MonkeyPatch, action: str) -> None:
    from opsfn.routes.incidents import routes

    monkeypatch.setenv("INCIDENT_TARGETS", json.dumps({
        "api": {"kind": "ecs", "cluster": "prod", "service": "api"},
        "cache": {"kind": "redis", "redis": {"host": "127.0.0.1"}}}))
    monkeypatch.setattr(routes.remediation, "restart_ecs", _done(deployment="d-1", changed=True))
    monkeypatch.setattr(routes.remediation, "scale_ecs", _done(desired=4, changed=True))
    monkeypatch.setattr(routes.cache_flush, "credentials", lambda *_: None)
    monkeypatch.setattr(routes.cache_flush, "flush", lambda *_, **__: {"flushed": True,
                                                                        "changed": True})
    module, name, target = KILL_POINTS[action]
    payload = {"action": action, "target": target, "incidentId": f"inc-{action}",
               "priority": "critical"}
    first, again = _killed_then_redone(monkeypatch, getattr(routes, module), name, payload, app)
    assert first["success"] is True and first["action"] == action and again == first


def test_glue_landing_killed_mid_way_is_started_by_the_retry(
        marker_tables: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from opsfn.routes.etl import runs

    aws.client("s3").create_bucket(Bucket="fhir-landing")
    aws.client("glue").create_workflow(Name="fhir-etl")
    monkeypatch.setenv("LANDING_BUCKET", "fhir-landing")
    monkeypatch.setenv("GLUE_WORKFLOW_NAME", "fhir-etl")
    key = "fhir_data/json/patients/patients_20250101_120000.json"
    aws.client("s3").put_object(Bucket="fhir-landing", Key=key,
                                Body=json.dumps([{"resourceType": "Patient", "id": "p1"}]).encode())
    event = s3_event("fhir-landing", key)

    def deliver(evt: Any, context: Any) -> Any:
        try:
            return app(evt, context)
        except RecordsFailed as failed:  # an S3 event reports its failed records together
            raise Conflict(failed.message) from None

    _killed_then_redone(monkeypatch, runs, "request_run", event, deliver)
    runs_seen = aws.client("glue").get_workflow_runs(Name="fhir-etl")["Runs"]
    assert len(runs_seen) == 1 and runs_seen[0]["WorkflowRunProperties"]["key"] == key


def test_glue_alert_killed_mid_way_is_sent_by_the_retry(
        marker_tables: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from opsfn.services import alerts

    aws.client("glue").create_workflow(Name="fhir-etl")
    monkeypatch.setenv("GLUE_WORKFLOW_NAME", "fhir-etl")
    event = eventbridge_event("aws.glue", "Glue Job State Change", {
        "jobName": "bronze", "state": "FAILED", "jobRunId": "jr_9", "message": "boom"})
    first, again = _killed_then_redone(monkeypatch, alerts, "publish", event, app)
    assert first["result"]["messageId"] and again["result"]["alertDuplicate"] is True


def test_glue_schedule_killed_mid_way_is_started_by_the_retry(
        marker_tables: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from opsfn.routes.etl import runs

    aws.client("glue").create_workflow(Name="fhir-etl")
    monkeypatch.setenv("GLUE_WORKFLOW_NAME", "fhir-etl")
    event = schedule_event("etl-scheduled-run")
    first, again = _killed_then_redone(monkeypatch, runs, "request_run", event, app)
    assert first["result"]["state"] == "started"
    assert again["result"]["duplicate"] is True
    assert len(aws.client("glue").get_workflow_runs(Name="fhir-etl")["Runs"]) == 1


def test_sync_schedule_killed_mid_way_is_synced_by_the_retry(
        marker_tables: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    from opsfn.routes.exports.sync import engine

    root = tmp_path / "efs"
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "a.txt").write_bytes(b"alpha")
    aws.client("s3").create_bucket(Bucket="efs-copy")
    monkeypatch.setenv("SYNC_SOURCE_DIR", str(root))
    monkeypatch.setenv("SYNC_BUCKET", "efs-copy")
    monkeypatch.setenv("SYNC_DEADLINE_MARGIN_MS", "1000")  # the first delivery has only 4 s
    event = schedule_event("sync-efs-to-s3")
    first, again = _killed_then_redone(monkeypatch, engine, "run_sync", event, app)
    assert first["result"]["complete"] is True
    assert again["result"]["duplicate"] is True
    listed = aws.client("s3").list_objects_v2(Bucket="efs-copy", Prefix="efs/")
    assert [o["Key"] for o in listed["Contents"]] == ["efs/docs/a.txt"]


def test_relay_killed_mid_way_is_forwarded_once_by_the_retry(
        marker_tables: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from opsfn.routes.ses import relay
    from tests.ses.conftest import BUCKET, FORWARD_FROM, FORWARD_TO, PREFIX, plain_text

    message_id = "o3vrnil0e2ic28trm7dfhrc2v0cnbeccl4nbp0g1"
    aws.client("s3").create_bucket(Bucket=BUCKET)
    aws.client("s3").put_object(Bucket=BUCKET, Key=PREFIX + message_id, Body=plain_text())
    aws.client("ses").verify_domain_identity(Domain="clinic.example")
    for name, value in {"SES_INBOUND_BUCKET": BUCKET, "SES_INBOUND_PREFIX": PREFIX,
                        "SES_FORWARD_FROM": FORWARD_FROM, "SES_FORWARD_TO": FORWARD_TO}.items():
        monkeypatch.setenv(name, value)

    def deliver(evt: Any, context: Any) -> Any:
        try:
            return app(evt, context)
        except RecordsFailed as failed:  # SES events report their failed records together
            assert failed.codes == ["conflict"]
            raise Conflict(failed.message) from None

    first, again = _killed_then_redone(monkeypatch, relay, "rewrite", ses_event(message_id),
                                       deliver)
    assert first["results"][0]["outcome"] == "forwarded"
    assert again["results"][0]["duplicate"] is True
    from moto.ses.models import ses_backends

    from opsfn.testing import ACCOUNT, REGION

    assert len(ses_backends[ACCOUNT][REGION].sent_messages) == 1


# -- SES throttling backoff ----------------------------------------------------------------------
@pytest.mark.usefixtures("no_backoff")
def test_ses_backoff_gives_up_before_the_deadline(moto_aws: None,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from opsfn.routes.ses import receipt_rules

    set_attempts(monkeypatch, 1)
    aws.client("ses").create_receipt_rule_set(RuleSetName="alpha")
    pauses: list[float] = []
    monkeypatch.setattr(receipt_rules, "_sleep", pauses.append)
    started = time.monotonic()
    with inject_faults(1.0, kinds=("throttle",), operations={"SetActiveReceiptRuleSet"}), \
            pytest.raises(UpstreamError, match="throttled; gave up"):
        app({"action": "activate_receipt_rule_set", "rule_set_name": "alpha"},
            FakeLambdaContext(3_500))
    assert sum(pauses) + (time.monotonic() - started) < 3.5  # never sleeps past the deadline
    assert pauses == [1.0]
    active = aws.client("ses").describe_active_receipt_rule_set().get("Metadata")
    assert not active  # nothing changed
