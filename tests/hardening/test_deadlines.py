"""Routes near the Lambda deadline stop cleanly and leave state the next delivery resumes from.

The sync checks its budget before each step, so a context whose time runs out at a known step
makes it stop there; imaging and incident actions cannot stop themselves mid-call, so the runtime
killing them is simulated, and the test checks what they left: a lease or an in-progress record
that ends with the deadline, after which a redelivery finishes the work exactly once.
"""

from __future__ import annotations

import json
import os
import time
import types
from pathlib import Path
from typing import Any

import pytest

from opsfn.errors import DeadlineExceeded, UpstreamError
from opsfn.handler import app
from opsfn.services import aws
from opsfn.testing import Client, FakeLambdaContext, sqs_event
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


# -- incident actions ------------------------------------------------------------------------------
def test_incident_action_killed_mid_way_is_redone_only_after_the_deadline(
        moto_aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from opsfn.services import alerts

    create_table("ops-idempotency", "id", "expiration")
    create_table("ops-audit", "auditId", None)
    monkeypatch.setenv("IDEMPOTENCY_TABLE", "ops-idempotency")
    monkeypatch.setenv("AUDIT_TABLE", "ops-audit")
    monkeypatch.setenv("ALERT_TOPIC_ARN", aws.client("sns").create_topic(Name="alerts")["TopicArn"])
    monkeypatch.setenv("INCIDENT_TARGETS", json.dumps(
        {"api": {"kind": "ecs", "cluster": "prod", "service": "api"}}))
    payload = {"action": "notify_human", "target": "api", "incidentId": "inc-9", "priority": "high"}
    published: list[str] = []
    real_publish = alerts.publish

    def killed(*_: Any, **__: Any) -> str:
        raise Killed

    monkeypatch.setattr(alerts, "publish", killed)
    with pytest.raises(Killed):
        app(payload, FakeLambdaContext(4_000))
    ddb = aws.client("dynamodb")
    (record,) = ddb.scan(TableName="ops-idempotency")["Items"]
    assert record["status"]["S"] == "INPROGRESS"
    expiry_ms = int(record["in_progress_expiration"]["N"])
    assert expiry_ms <= time.time() * 1000 + 4_000 + 500  # marked resumable at the deadline

    def counting(*args: Any, **kwargs: Any) -> str:
        published.append("sent")
        return real_publish(*args, **kwargs)

    monkeypatch.setattr(alerts, "publish", counting)
    with pytest.raises(Exception, match="already in progress"):
        app(payload, FakeLambdaContext())  # before the deadline: it may still be running
    ddb.update_item(TableName="ops-idempotency", Key={"id": record["id"]},
                    UpdateExpression="SET in_progress_expiration = :past",
                    ExpressionAttributeValues={":past": {"N": "0"}})  # the deadline has passed
    first = app(payload, FakeLambdaContext())
    assert first["messageId"] and published == ["sent"]
    assert app(payload, FakeLambdaContext()) == first and published == ["sent"]


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
