"""AWS faults while routes run against moto: finish through retries or fail clearly, never half-done.

Each test runs one route through the Lambda path with throttles, 500s and read timeouts injected
into a share of its AWS attempts (seeded, so every run sees the same faults), with two attempts
per call so that some calls do fail. After each faulted run it checks the reply shape of the
source and that the state left behind is whole (or resumable); then it runs the route again
without faults and checks that the state converges to the one correct result.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from opsfn.errors import OpsfnError, RecordsFailed, UpstreamError
from opsfn.handler import app
from opsfn.services import aws
from opsfn.testing import ACCOUNT, REGION, Client, FakeLambdaContext
from tests.ses.conftest import issued_keys
from tests.tables import create_shared_tables, drain_queue

from ._faults_support import (
    Outcome,
    assert_clear_error,
    assert_clear_http_error,
    attempt,
    faults,
    no_backoff,  # noqa: F401 - fixture
    set_attempts,
)

SEEDS = range(6)
IDENTITY = f"arn:aws:ses:{REGION}:{ACCOUNT}:identity/example.com"  # the SMTP user sends as it
RATE = 0.45
ROTATION_RATE = 0.3

pytestmark = pytest.mark.usefixtures("no_backoff")


@pytest.fixture
def env(moto_aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """moto, two attempts per AWS call (so faults can exhaust them), the shared tables."""
    set_attempts(monkeypatch, 1)
    create_shared_tables(monkeypatch)


@pytest.fixture
def client() -> Client:
    """The real app, every built-in route, the same path as lambda_handler."""
    return Client(app, timeout_ms=120_000, auth="iam")  # operator routes need a signed caller


def both_seen(outcomes: list[Outcome]) -> None:
    """The faults must have made some runs fail and let others finish, or the test proved little."""
    assert any(o.ok for o in outcomes), [o.error for o in outcomes]
    assert any(not o.ok for o in outcomes), "no run failed: the fault rate proves nothing"


def lock_items(prefix: str) -> list[dict[str, Any]]:
    items = aws.client("dynamodb").scan(TableName="ops-locks")["Items"]
    return [i for i in items if i["lockId"]["S"].startswith(prefix)
            and int(i["expiresAt"]["N"]) >= int(time.time())]


def expire_locks(prefix: str) -> None:
    """Time passes: every lock under ``prefix`` reaches its TTL."""
    ddb = aws.client("dynamodb")
    for item in lock_items(prefix):
        ddb.update_item(TableName="ops-locks", Key={"lockId": item["lockId"]},
                        UpdateExpression="SET expiresAt = :past",
                        ExpressionAttributeValues={":past": {"N": "1"}})


# -- imaging ------------------------------------------------------------------------------------
@pytest.fixture
def imaging(env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.imaging.conftest import BUCKET, TABLE, make_resources

    monkeypatch.setenv("UPLOAD_BUCKET", BUCKET)
    monkeypatch.setenv("TABLE_NAME", TABLE)
    make_resources()


def _jobs() -> list[dict[str, Any]]:
    from opsfn.routes.imaging.jobs import from_item
    from tests.imaging.conftest import TABLE

    return [from_item(i) for i in aws.client("dynamodb").scan(TableName=TABLE)["Items"]]


def test_upload_request_writes_a_whole_job_or_none(client: Client, imaging: None,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    outcomes: list[Outcome] = []
    ok_ids: list[str] = []
    for seed in SEEDS:
        with faults(monkeypatch, RATE, seed):
            reply = client.post("/request-upload", json_body={"fileName": "scan.dcm"},
                                shape="http_v1")
        if reply.status == 200:
            outcomes.append(Outcome(reply=reply))
            ok_ids.append(reply.json()["jobId"])
        else:
            assert reply.status == 502
            assert_clear_http_error(reply)
            assert reply.json()["error"] == "upstream_error"
            outcomes.append(Outcome(error=UpstreamError(reply.json()["message"])))
    both_seen(outcomes)
    # Only jobs whose reply reached the browser exist, and each is whole.
    stored = _jobs()
    assert sorted(j["jobId"] for j in stored) == sorted(ok_ids)
    for job in stored:
        assert job["status"] == "pending" and job["s3Key"] == f"uploads/{job['jobId']}/original"
        assert job["fileType"] == "application/dicom" and job["ttl"] > time.time()
    retry = client.post("/request-upload", json_body={"fileName": "scan.dcm"})
    assert retry.status == 200 and len(_jobs()) == len(ok_ids) + 1


def test_processing_job_never_stuck_and_converges(client: Client, imaging: None,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from opsfn.routes.imaging import jobs
    from tests.imaging.conftest import BUCKET, dicom_bytes

    outcomes: list[Outcome] = []
    for seed in SEEDS:
        job_id = client.post("/request-upload", json_body={"fileName": "ct.dcm"}).json()["jobId"]
        key = f"uploads/{job_id}/original"
        aws.client("s3").put_object(Bucket=BUCKET, Key=key, Body=dicom_bytes("CT_small.dcm"))
        started = time.time()
        with faults(monkeypatch, RATE, seed):
            outcome = attempt(lambda key=key: client.s3_put(BUCKET, key))
        outcomes.append(outcome)
        job = jobs.get(job_id)
        assert job is not None
        if outcome.ok:
            assert job["status"] == "complete" and job["results"]["Labels"]
        else:
            assert isinstance(outcome.error, RecordsFailed) and not outcome.error.permanent
            assert_clear_error(outcome.error)
            # An AWS fault is never taken for bad content: the job stays claimable.
            assert job["status"] in ("pending", "processing"), job
            if job.get("retryable") is not None:  # released for the retry, back to pending
                assert job["status"] == "pending" and job["retryable"] is True
                assert job["error"] == "temporary processing error; the upload will be retried"
            if job["status"] == "processing":
                # The failure could not be written: the lease ends soon after the deadline.
                assert job["leaseUntil"] <= started + client.timeout_ms / 1000 + 31
                aws.client("dynamodb").update_item(  # ... and that time passes
                    TableName=os.environ["TABLE_NAME"], Key={"jobId": {"S": job_id}},
                    UpdateExpression="SET leaseUntil = :past",
                    ExpressionAttributeValues={":past": {"N": "0"}})
        client.s3_put(BUCKET, key)  # the redelivery, without faults
        done = jobs.get(job_id)
        assert done is not None and done["status"] == "complete", done
        assert done["imageKey"] == f"converted/{job_id}/image.png"
        png = aws.client("s3").get_object(Bucket=BUCKET, Key=done["imageKey"])["Body"].read()
        assert png.startswith(b"\x89PNG") and done["metadata"]["width"] == 128
        client.s3_put(BUCKET, key)  # a late duplicate changes nothing
        assert jobs.get(job_id) == done
    both_seen(outcomes)


# -- SMTP credentials ------------------------------------------------------------------------------
@pytest.fixture
def issued(env: None) -> dict[str, str]:
    """Every access key IAM hands out: id -> secret, read from the replies."""
    return issued_keys()


def _keys(user: str) -> list[str]:
    iam = aws.client("iam")
    try:
        return [k["AccessKeyId"] for k in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]]
    except iam.exceptions.NoSuchEntityException:
        return []


def _secret_value(name: str) -> dict[str, Any] | None:
    sm = aws.client("secretsmanager")
    try:
        return dict(json.loads(sm.get_secret_value(SecretId=name)["SecretString"]))
    except sm.exceptions.ResourceNotFoundException:
        return None


def assert_credential_whole(user: str, issued: dict[str, str], *, keys_allowed: int) -> None:
    """The secret, when present, names a live key and holds that key's SMTP password."""
    from opsfn.routes.ses.smtp_password import smtp_password

    value = _secret_value(f"opsfn/ses-smtp/{user}")
    live = _keys(user)
    assert len(live) <= keys_allowed, live
    if value is None:
        return
    assert set(value) == {"username", "password", "host", "port"}, sorted(value)
    assert value["username"] in live, (value["username"], live)
    assert value["password"] == smtp_password(issued[value["username"]], REGION)
    assert value["host"] == f"email-smtp.{REGION}.amazonaws.com" and value["port"] == 587


def test_smtp_credential_create_is_whole_or_reused(client: Client, issued: dict[str, str],
                                                   secret: Callable[[str], str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    outcomes: list[Outcome] = []
    for seed in SEEDS:
        user = f"smtp-user-{seed}"
        props = {"UserName": user, "IdentityArn": IDENTITY}
        with faults(monkeypatch, RATE, seed):
            answer = client.custom_resource("Create", "Custom::SmtpCredential", props,
                                            logical_id=f"Smtp{seed}")
        for value in issued.values():
            secret(value)
        if answer["Status"] == "SUCCESS":
            outcomes.append(Outcome(reply=answer))
            assert set(answer["Data"]) == {"SecretArn", "Host", "Port", "UserName"}
        else:
            assert answer["Status"] == "FAILED"
            assert answer["Reason"].startswith(("AWS ", "SES ")), answer["Reason"]
            outcomes.append(Outcome(error=UpstreamError(answer["Reason"])))
        # A key the secret does not know may be left (a retry deletes it); never two.
        assert_credential_whole(user, issued, keys_allowed=1)
        again = client.custom_resource("Create", "Custom::SmtpCredential", props,
                                       logical_id=f"Smtp{seed}")
        assert again["Status"] == "SUCCESS", again["Reason"]
        assert_credential_whole(user, issued, keys_allowed=1)
        assert len(_keys(user)) == 1 and _secret_value(f"opsfn/ses-smtp/{user}") is not None
        policies = aws.client("iam").list_user_policies(UserName=user)["PolicyNames"]
        assert policies == ["opsfn-ses-send-raw-email"]
    both_seen(outcomes)


def test_smtp_rotation_from_the_queue_keeps_secret_and_key_together(
        client: Client, issued: dict[str, str], secret: Callable[[str], str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from opsfn.routes.ses.smtp import rotation

    monkeypatch.setenv("OPSFN_ACTION_QUEUE", "opsfn-actions")
    # Faults, not the grace period (tests/ses/test_smtp_rotation.py): the old key goes in
    # the run that made the new one current, so "whole" means one key once a rotation is done.
    monkeypatch.setenv("SES_SMTP_ROTATION_GRACE_SECONDS", "0")
    monkeypatch.setenv("SES_SMTP_KEY_PROPAGATION_SECONDS", "0")
    outcomes: list[Outcome] = []
    for seed in SEEDS:
        user = f"rotated-{seed}"
        name = f"opsfn/ses-smtp/{user}"
        created = client.custom_resource("Create", "Custom::SmtpCredential",
                                         {"UserName": user, "IdentityArn": IDENTITY},
                                         logical_id=f"Rot{seed}")
        assert created["Status"] == "SUCCESS"
        before = _secret_value(name)
        assert before is not None
        item = {"action": "rotate_smtp_credential", "secret_id": name, "rotation_id": f"r-{seed}"}
        # A rotation makes a dozen calls (its turn in the lock table included): at RATE almost
        # every one fails; a lower rate lets some succeed, so both outcomes are exercised.
        with faults(monkeypatch, ROTATION_RATE, seed + 100):
            reply = client.sqs([item], queue="opsfn-actions")
        for value in issued.values():
            secret(value)
        failures = reply["batchItemFailures"]
        outcomes.append(Outcome(reply=reply) if not failures else
                        Outcome(error=UpstreamError("record failed")))
        assert len(failures) <= 1
        # During a rotation the old and the new key may both exist; the secret names a live one.
        assert_credential_whole(user, issued, keys_allowed=2)
        if not failures:
            assert _secret_value(name) != before and len(_keys(user)) == 1
        # The in-flight window passes; the redelivered item converges (or is a no-op if done).
        monkeypatch.setattr(rotation, "IN_FLIGHT_SECONDS", 0.0)
        assert client.sqs([item], queue="opsfn-actions") == {"batchItemFailures": []}
        monkeypatch.setattr(rotation, "IN_FLIGHT_SECONDS", 120.0)
        assert_credential_whole(user, issued, keys_allowed=1)
        after = _secret_value(name)
        assert after is not None and after["username"] != before["username"]
        assert len(_keys(user)) == 1
    both_seen(outcomes)


# -- receipt rule set -----------------------------------------------------------------------------
def test_receipt_rule_set_changes_only_on_success(client: Client, env: None,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from opsfn.routes.ses import receipt_rules

    pauses: list[float] = []
    monkeypatch.setattr(receipt_rules, "_sleep", pauses.append)
    ses = aws.client("ses")
    for name in ("alpha", "legacy"):
        ses.create_receipt_rule_set(RuleSetName=name)
    outcomes: list[Outcome] = []
    for seed in SEEDS:
        ses.set_active_receipt_rule_set(RuleSetName="legacy")
        with faults(monkeypatch, 0.6, seed, kinds=("throttle", "server_error")):
            answer = client.custom_resource("Create", "Custom::ActiveReceiptRuleSet",
                                            {"RuleSetName": "alpha"})
        active = (ses.describe_active_receipt_rule_set().get("Metadata") or {}).get("Name")
        if answer["Status"] == "SUCCESS":
            outcomes.append(Outcome(reply=answer))
            assert active == "alpha"
            assert answer["PhysicalResourceId"] == "ses-active-rule-set:alpha:legacy"
        else:
            outcomes.append(Outcome(error=UpstreamError(answer["Reason"])))
            assert active == "legacy"  # a failed answer changed nothing
            assert answer["Reason"].startswith(("AWS ", "SES ")), answer["Reason"]
        retried = client.custom_resource("Create", "Custom::ActiveReceiptRuleSet",
                                         {"RuleSetName": "alpha"})
        assert retried["Status"] == "SUCCESS"
        assert retried["PhysicalResourceId"].startswith("ses-active-rule-set:alpha:")
        assert (ses.describe_active_receipt_rule_set()["Metadata"]["Name"]) == "alpha"
    both_seen(outcomes)
    assert all(p <= 8 for p in pauses)


# -- RDS export -----------------------------------------------------------------------------------
def test_rds_export_starts_at_most_one_task(client: Client, env: None,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    rds = aws.client("rds")
    rds.create_db_cluster(DBClusterIdentifier="emr", Engine="aurora-mysql",
                          MasterUsername="admin", MasterUserPassword="password123")
    aws.client("s3").create_bucket(Bucket="exports")
    monkeypatch.setenv("RDS_EXPORT_CLUSTER_ID", "emr")
    monkeypatch.setenv("RDS_EXPORT_BUCKET", "exports")
    monkeypatch.setenv("RDS_EXPORT_ROLE_ARN", "arn:aws:iam::123456789012:role/rds-export")
    monkeypatch.setenv("RDS_EXPORT_KMS_KEY_ID", aws.client("kms").create_key()["KeyMetadata"]["Arn"])
    outcomes: list[Outcome] = []
    for seed in SEEDS:
        snap = rds.create_db_cluster_snapshot(DBClusterIdentifier="emr",
                                              DBClusterSnapshotIdentifier=f"snap-{seed}")
        arn = snap["DBClusterSnapshot"]["DBClusterSnapshotArn"]
        with faults(monkeypatch, RATE, seed):
            outcome = attempt(lambda: client.invoke("export_rds_snapshot"))
        outcomes.append(outcome)
        tasks = [t for t in rds.describe_export_tasks()["ExportTasks"] if t["SourceArn"] == arn]
        if outcome.ok:
            assert outcome.reply["source_arn"] == arn and len(tasks) == 1
        else:
            assert isinstance(outcome.error, UpstreamError) and not outcome.error.permanent
            assert_clear_error(outcome.error)
            assert len(tasks) <= 1
        final = client.invoke("export_rds_snapshot")
        tasks = [t for t in rds.describe_export_tasks()["ExportTasks"] if t["SourceArn"] == arn]
        assert len(tasks) == 1 and final["export_task_identifier"] == tasks[0]["ExportTaskIdentifier"]
        assert final["export_task_identifier"].endswith("-1")  # the first attempt's identifier
    both_seen(outcomes)


# -- EFS -> S3 sync -------------------------------------------------------------------------------
@pytest.fixture
def sync_tree(env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "efs"
    for index in range(14):
        path = root / f"d{index % 3}" / f"f{index:02d}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f"file {index} ".encode() * (index + 1))
    hour_ago = time.time_ns() - 3600 * 10**9
    for path in root.rglob("*"):
        os.utime(path, ns=(hour_ago, hour_ago))
    aws.client("s3").create_bucket(Bucket="sync-bucket")
    aws.client("sqs").create_queue(QueueName="opsfn-actions")
    monkeypatch.setenv("OPSFN_ACTION_QUEUE", "opsfn-actions")
    monkeypatch.setenv("SYNC_SOURCE_DIR", str(root))
    monkeypatch.setenv("SYNC_BUCKET", "sync-bucket")
    monkeypatch.setenv("SYNC_PREFIX", "efs/")
    monkeypatch.setenv("SYNC_CONCURRENCY", "4")
    return root


def _synced() -> dict[str, bytes]:
    s3 = aws.client("s3")
    listing = s3.list_objects_v2(Bucket="sync-bucket", Prefix="efs/").get("Contents", [])
    return {o["Key"][4:]: s3.get_object(Bucket="sync-bucket", Key=o["Key"])["Body"].read()
            for o in listing}


def _local(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_sync_fails_clearly_and_the_next_run_completes(client: Client, sync_tree: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    outcomes: list[Outcome] = []
    for seed in SEEDS:
        (sync_tree / "d0" / f"new-{seed}.txt").write_bytes(f"new {seed}".encode())
        with faults(monkeypatch, 0.25, seed):
            outcome = attempt(lambda: client.invoke("sync_efs_to_s3"))
        outcomes.append(outcome)
        local = _local(sync_tree)
        copied = _synced()
        assert all(copied[rel] == local[rel] for rel in copied)  # nothing torn, nothing foreign
        if outcome.ok:
            assert outcome.reply["complete"] is True and copied == local
        else:
            assert isinstance(outcome.error, UpstreamError) and not outcome.error.permanent
            assert_clear_error(outcome.error)
        # A lock left by a failed release expires with the invocation (+60 s), never later.
        for item in lock_items("sync:"):
            assert int(item["expiresAt"]["N"]) <= time.time() + client.timeout_ms / 1000 + 61
        expire_locks("sync:")
        final = client.invoke("sync_efs_to_s3")
        assert final["complete"] is True and _synced() == _local(sync_tree)
        quiet = client.invoke("sync_efs_to_s3")
        assert quiet["mode"] == "manifest" and quiet["uploaded"] == 0, quiet
    both_seen(outcomes)


# -- AWS Backup -----------------------------------------------------------------------------------
class _Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.data


class FakeBackup:
    """StartBackupJob as AWS Backup answers it (moto has none): one job per idempotency token."""

    def __init__(self) -> None:
        self.jobs: dict[str, str] = {}
        self.requests: list[dict[str, Any]] = []

    def __call__(self, request: Any, **_: Any) -> Any:
        from botocore.awsrequest import AWSResponse

        if "backup." not in request.url:
            return None  # a faulted attempt: it never reached the service
        params = json.loads(request.body or b"{}")
        self.requests.append(params)
        token = params["IdempotencyToken"]
        job = self.jobs.setdefault(token, f"job-{len(self.jobs) + 1}")
        body = json.dumps({"BackupJobId": job, "CreationDate": 1767225600,
                           "RecoveryPointArn": f"arn:aws:backup:{REGION}:{ACCOUNT}:recovery-point:{job}"})
        return AWSResponse(request.url, 200, {"content-type": "application/json"},
                           _Body(body.encode()))


def test_backup_job_retries_reuse_the_token(client: Client, env: None,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKUP_VAULT_NAME", "vault")
    monkeypatch.setenv("BACKUP_ROLE_ARN", f"arn:aws:iam::{ACCOUNT}:role/backup")
    efs = f"arn:aws:elasticfilesystem:{REGION}:{ACCOUNT}:file-system/fs-0123456789abcdef0"
    monkeypatch.setenv("BACKUP_RESOURCE_ARN", efs)
    service = FakeBackup()
    aws.client("backup").meta.events.register("before-send.backup.StartBackupJob", service)
    outcomes: list[Outcome] = []
    for seed in SEEDS:
        context = FakeLambdaContext()
        with faults(monkeypatch, 0.6, seed):
            outcome = attempt(lambda context=context: app({"action": "start_backup_job"}, context))
        outcomes.append(outcome)
        if not outcome.ok:
            assert isinstance(outcome.error, UpstreamError) and not outcome.error.permanent
            assert_clear_error(outcome.error)
        # Lambda's retry of the same request keeps its request id, so its token: the same job.
        retry = app({"action": "start_backup_job"}, context)
        if outcome.ok:
            assert retry["backup_job_id"] == outcome.reply["backup_job_id"]
        assert retry["resource_arn"] == efs and retry["backup_vault_name"] == "vault"
    assert len(service.jobs) == len(SEEDS)  # one job per request, however many attempts
    assert {r["BackupVaultName"] for r in service.requests} == {"vault"}
    both_seen(outcomes)


# -- Glue ------------------------------------------------------------------------------------------
@pytest.fixture
def lake(env: None, monkeypatch: pytest.MonkeyPatch) -> str:
    sqs, sns = aws.client("sqs"), aws.client("sns")
    topic = sns.create_topic(Name="ops-alerts")["TopicArn"]
    url = sqs.create_queue(QueueName="ops-inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    aws.client("s3").create_bucket(Bucket="fhir-landing")
    monkeypatch.setenv("ALERT_TOPIC_ARN", topic)
    monkeypatch.setenv("LANDING_BUCKET", "fhir-landing")
    monkeypatch.setenv("LANDING_PREFIX", "landing/")
    return url


def _pending(workflow: str) -> int:
    item = aws.client("dynamodb").get_item(TableName="ops-locks", Key={
        "lockId": {"S": f"glue-pending#{workflow}"}}).get("Item")
    return int(item["pendingCount"]["N"]) if item else 0


def test_glue_landing_is_never_lost(client: Client, lake: str,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    glue = aws.client("glue")
    outcomes: list[Outcome] = []
    for seed in SEEDS:
        workflow = f"etl-{seed}"
        glue.create_workflow(Name=workflow)
        monkeypatch.setenv("GLUE_WORKFLOW_NAME", workflow)
        key = f"landing/batch-{seed}/patient.json"
        aws.client("s3").put_object(Bucket="fhir-landing", Key=key,
                                    Body=json.dumps({"resourceType": "Patient"}).encode())
        with faults(monkeypatch, RATE, seed):
            outcome = attempt(lambda key=key: client.s3_put("fhir-landing", key))
        outcomes.append(outcome)
        if not outcome.ok:
            assert isinstance(outcome.error, RecordsFailed) and not outcome.error.permanent
            assert_clear_error(outcome.error)
        expire_locks("glue-start#")  # a start lock left by a failed release lasts 60 s
        client.s3_put("fhir-landing", key)  # the retry, without faults
        runs = glue.get_workflow_runs(Name=workflow)["Runs"]
        # The landed file got its run: started, or waiting behind the one a faulted try started.
        assert len(runs) == 1, runs
        assert _pending(workflow) <= (0 if outcome.ok else 1)
    both_seen(outcomes)


def test_glue_failure_alert_is_sent_once(client: Client, lake: str,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    aws.client("glue").create_workflow(Name="etl")
    monkeypatch.setenv("GLUE_WORKFLOW_NAME", "etl")
    outcomes: list[Outcome] = []
    for seed in SEEDS:
        detail = {"jobName": "bronze", "state": "FAILED", "jobRunId": f"jr_{seed}",
                  "severity": "ERROR", "message": "boom"}
        with faults(monkeypatch, RATE, seed):
            outcome = attempt(lambda detail=detail: client.eventbridge(
                "aws.glue", "Glue Job State Change", detail))
        outcomes.append(outcome)
        if not outcome.ok:
            assert_clear_error(outcome.error)  # type: ignore[arg-type]
        final = attempt(lambda detail=detail: client.eventbridge(
            "aws.glue", "Glue Job State Change", detail))
        if not final.ok:
            # A try whose marker could not be dropped or completed holds it until its deadline;
            # then the retry sends the alert (again, if only the completion record was lost).
            assert final.error is not None and final.error.code == "conflict"
            _expire_idempotency()
            client.eventbridge("aws.glue", "Glue Job State Change", detail)
        client.eventbridge("aws.glue", "Glue Job State Change", detail)  # a duplicate delivery
        alerts = [m for m in drain_queue(lake) if f"jr_{seed}" in m["Message"]]
        assert 1 <= len(alerts) <= (1 if final.ok else 2), alerts
    both_seen(outcomes)


# -- incidents -----------------------------------------------------------------------------------
def test_incident_notify_and_restart_act_once(client: Client, lake: str,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    ecs = aws.client("ecs")
    ecs.create_cluster(clusterName="prod")
    ecs.register_task_definition(family="api", containerDefinitions=[
        {"name": "api", "image": "nginx", "memory": 128}])
    ecs.create_service(cluster="prod", serviceName="api-svc", taskDefinition="api", desiredCount=1)
    monkeypatch.setenv("INCIDENT_TARGETS", json.dumps(
        {"api": {"kind": "ecs", "cluster": "prod", "service": "api-svc"}}))
    outcomes: list[Outcome] = []
    for seed in SEEDS:
        for action in ("notify_human", "restart_service"):
            payload = {"target": "api", "incidentId": f"inc-{seed}", "priority": "high"}
            with faults(monkeypatch, RATE, seed):
                outcome = attempt(lambda a=action, p=payload: client.invoke(a, **p))
            outcomes.append(outcome)
            if not outcome.ok:
                assert_clear_error(outcome.error)  # type: ignore[arg-type]
                assert not outcome.error.permanent  # type: ignore[union-attr]
            final = attempt(lambda a=action, p=payload: client.invoke(a, **p))
            if not final.ok:
                # Only a result whose record could not be completed: in progress until it expires.
                assert final.error is not None and final.error.code == "conflict"
                _expire_idempotency()
                final = Outcome(reply=client.invoke(action, **payload))
            again = client.invoke(action, **payload)  # a duplicate replays the stored result
            assert again == final.reply
        alerts = [m for m in drain_queue(lake) if f"inc-{seed}" in m["Message"]]
        assert 1 <= len(alerts) <= 2, alerts
    both_seen(outcomes)


def _expire_idempotency() -> None:
    ddb = aws.client("dynamodb")
    for item in ddb.scan(TableName="ops-idempotency")["Items"]:
        if item.get("status", {}).get("S") == "INPROGRESS":
            ddb.delete_item(TableName="ops-idempotency", Key={"id": item["id"]})


# -- database -------------------------------------------------------------------------------------
def test_database_start_and_stop_converge(client: Client, env: None,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.rds.models import rds_backends

    rds = aws.client("rds")
    monkeypatch.setenv("DB_INSTANCE_ID", "dash-db")
    rds.create_db_instance(DBInstanceIdentifier="dash-db", DBInstanceClass="db.t3.micro",
                           Engine="postgres", MasterUsername="admin",
                           MasterUserPassword="password123", AllocatedStorage=20)
    backend = rds_backends[ACCOUNT][REGION]

    def status() -> str:
        return str(backend.databases["dash-db"].status)

    outcomes: list[Outcome] = []
    for seed in SEEDS:
        backend.databases["dash-db"].status = "stopped"
        expire_locks("database-")
        with faults(monkeypatch, RATE, seed):
            reply = client.post("/database/start", shape="http_v1")
        if reply.status == 202:
            outcomes.append(Outcome(reply=reply))
            assert status() in ("available", "starting")
        else:
            assert_clear_http_error(reply)
            assert reply.status in (409, 502), reply.text
            outcomes.append(Outcome(error=OpsfnError(reply.json()["message"])))
        if status() == "stopped":
            expire_locks("database-start#")  # a start lock outlives a failed start only to its TTL
        retry = client.post("/database/start")
        assert retry.status in (200, 202), retry.text
        assert status() in ("available", "starting")
        backend.databases["dash-db"].status = "available"
        with faults(monkeypatch, RATE, seed + 50):
            stopped = attempt(lambda: client.invoke("stop_database"))
        if not stopped.ok:
            assert_clear_error(stopped.error)  # type: ignore[arg-type]
        if status() == "available":
            expire_locks("database-stop#")
            client.invoke("stop_database")
        assert status() in ("stopped", "stopping")
    both_seen(outcomes)


# -- TLS materials (file-system faults: the route writes files, not AWS) ---------------------------
@pytest.fixture
def ssl_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "ssl"
    monkeypatch.setenv("SSL_DIR", str(root))
    monkeypatch.setenv("SSL_LOCK_WAIT_SECONDS", "0")
    monkeypatch.setenv("SSL_KEY_TYPE", "ecdsa-p256")
    return root


def _pair_matches(key: Path, cert: Path) -> bool:
    import datetime as dt

    from opsfn.routes.tls import certs

    key_pem, cert_pem = key.read_bytes(), cert.read_bytes()
    return certs.assess(cert_pem, key_pem, renew_before=dt.timedelta(0)).state == "current"


def assert_materials_whole(root: Path) -> None:
    """Key and certificate match in both places (or are absent together); no temp or lock left."""
    from opsfn.routes.tls.routes import Layout

    layout = Layout(root)
    for key, cert in ((layout.key, layout.cert), (layout.web_key, layout.web_cert)):
        assert key.exists() == cert.exists(), (key, cert)
        if key.exists():
            assert _pair_matches(key, cert), f"{key.name} does not match {cert.name}"
    leftovers = [p.name for p in root.rglob("*") if p.name.endswith((".tmp", ".lock"))
                 or ".stale-" in p.name or p.name.endswith(".bak")]
    assert leftovers == [], leftovers


@pytest.mark.parametrize("operation", ["replace", "fsync"])
def test_tls_materials_never_leave_a_mismatched_pair(client: Client, ssl_dir: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     operation: str) -> None:
    """An I/O error at the n-th rename or fsync, for every n: the old pair or the new, never half."""
    import errno

    client.invoke("generate_ssl_materials")
    assert_materials_whole(ssl_dir)
    real_replace, real_fsync = Path.replace, os.fsync
    failed_somewhere = False
    for fail_at in range(1, 9):
        counter = {"n": 0}

        def tick(counter: dict[str, int] = counter, fail_at: int = fail_at) -> None:
            counter["n"] += 1
            if counter["n"] == fail_at:
                raise OSError(errno.EIO, "injected I/O error")

        def replace(self: Path, target: Any) -> Path:
            if str(self).startswith(str(ssl_dir)):
                tick()
            return real_replace(self, target)

        def fsync(fd: int) -> None:
            tick()
            real_fsync(fd)

        with monkeypatch.context() as patch:
            if operation == "replace":
                patch.setattr(Path, "replace", replace)
            else:
                patch.setattr(os, "fsync", fsync)
            outcome = attempt(lambda: client.invoke("generate_ssl_materials", force=True))
        if not outcome.ok:
            failed_somewhere = True
            assert_clear_error(outcome.error)  # type: ignore[arg-type]
        assert_materials_whole(ssl_dir)
        repaired = client.invoke("generate_ssl_materials")
        assert repaired["reason"] in ("current", "mismatch", "missing"), repaired
        assert_materials_whole(ssl_dir)
    assert failed_somewhere


@pytest.mark.parametrize("kind", ["throttle", "server_error", "timeout"])
def test_a_faulted_attempt_never_reaches_the_service(env: None, kind: str) -> None:
    """Otherwise every fault above would also be a write that happened: moto serves in process."""
    from botocore.exceptions import ClientError, ReadTimeoutError

    ddb = aws.client("dynamodb")
    with faults(pytest.MonkeyPatch(), 1.0, 0, kinds=(kind,)) as plan, \
            pytest.raises((ClientError, ReadTimeoutError)):
        ddb.put_item(TableName="ops-locks", Item={"lockId": {"S": "never"}})
    assert plan.attempts == 2
    assert ddb.scan(TableName="ops-locks")["Count"] == 0
