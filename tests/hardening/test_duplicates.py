"""Every at-least-once delivery replayed: the side effects of each route happen once.

One table, one case per route with side effects (and per delivery path worth replaying). Each case
sets up its resources in moto, builds the event exactly as the platform would send it, and
delivers it through the real handler's app (every built-in route, registered from the manifest):

* in sequence, twice, with the same ids a retry carries (SQS message id, EventBridge event id,
  incidentId, custom-resource RequestId, and the Lambda request id for async retries);
* where the platform can deliver at once (SQS, S3 notifications, async invoke, EventBridge), twice
  concurrently, followed by the retry of whichever copy was refused.

Side effects are counted where AWS sees them (see ``_duplicates_ledger``), on the real Redis
server (its command statistics) and at certificate generation. Each case's effects must reach the
expected count on the first delivery (so the case can fail) and never move after it. A last test
walks the registry so that a new route must join the table or the list of read-only routes. One
known defect without a stateless fix is pinned by a strict xfail (the receipt rule set's answer
to a duplicated Create).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from opsfn.errors import OpsfnError
from opsfn.services import aws
from opsfn.testing import (
    ACCOUNT,
    REGION,
    FakeLambdaContext,
    ResponseURLServer,
    custom_resource_event,
    eventbridge_event,
    http_v2_event,
    invoke_event,
    parse_http_reply,
    s3_event,
    s3_eventbridge_event,
    schedule_event,
    ses_event,
    sns_envelope,
    sqs_record,
)
from tests.hardening._duplicates_ledger import Gate, Ledger, install_fake_backup, ledger
from tests.operator_fixtures import REDIS_PASSWORD, Inbox, inbox, redis_server, tables

__all__ = ["inbox", "ledger", "redis_server", "tables"]  # fixtures used by this module

ACTION_QUEUE = "opsfn-actions"
S3_QUEUE = "opsfn-s3-events"


# -- the world a case runs in -------------------------------------------------------------------
@dataclass
class World:
    """Moto with the shared tables and alert inbox, the ledger, and what a case arranged."""

    request: pytest.FixtureRequest
    monkeypatch: pytest.MonkeyPatch
    tmp_path: Path
    ledger: Ledger
    inbox: Inbox
    server: ResponseURLServer | None = None

    def env(self, **values: str) -> None:
        for name, value in values.items():
            self.monkeypatch.setenv(name, value)

    def response_url(self) -> str:
        """A ResponseURL whose answers the harness reads back."""
        if self.server is None:
            self.server = ResponseURLServer()
            self.request.addfinalizer(self.server.close)
        return self.server.url


@pytest.fixture
def world(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
          ledger: Ledger, tables: None, inbox: Inbox) -> World:
    return World(request, monkeypatch, tmp_path, ledger, inbox)


def _handler_app() -> Any:
    from opsfn.handler import app

    return app


# -- deliveries ---------------------------------------------------------------------------------
@dataclass
class Outcome:
    """What the source received from one delivery."""

    value: Any = None
    error: OpsfnError | None = None

    @property
    def failed_messages(self) -> list[str]:
        if isinstance(self.value, dict) and "batchItemFailures" in self.value:
            return [item["itemIdentifier"] for item in self.value["batchItemFailures"]]
        return []

    @property
    def http_status(self) -> int | None:
        if isinstance(self.value, dict) and isinstance(self.value.get("statusCode"), int):
            return parse_http_reply(self.value).status
        return None

    def describe(self) -> str:
        if self.error is not None:
            return f"{type(self.error).__name__}: {self.error.message}"
        return json.dumps(self.value, default=str)[:300]


def deliver(event: dict[str, Any], request_id: str) -> Outcome:
    """One delivery through the handler's app, as the Lambda runtime makes it."""
    context = FakeLambdaContext(timeout_ms=120_000)
    context.aws_request_id = request_id
    try:
        return Outcome(value=_handler_app()(copy.deepcopy(event), context))
    except OpsfnError as error:
        return Outcome(error=error)


# -- the cases ----------------------------------------------------------------------------------
Arrange = Callable[[World], dict[str, Any]]


@dataclass(frozen=True)
class Case:
    """One route and one delivery path; ``effects`` are the counts one delivery must cause.

    ``concurrent_effects`` replaces ``effects`` for copies at once: where a call is idempotent by
    value (setting the same state twice is one change), or where the refused copy makes and
    undoes a call. ``retry_errors`` names the errors a concurrent copy may get (documented as
    retryable: the source retries it, and the retry must then change nothing). ``between`` runs
    between the two sequential deliveries (to stand in for AWS state that lags behind a call).
    ``hold`` names the operation where both copies meet and the late one waits until the first
    is done (see :class:`Gate`), for routes that read, then act. ``second_ok`` may accept a
    second reply other than plain success.
    """

    id: str
    route: str
    arrange: Arrange
    effects: dict[str, int]
    concurrent: bool = False
    concurrent_effects: dict[str, int] | None = None
    hold: str | None = None
    retry_errors: tuple[str, ...] = ()
    same_request_id: bool = True
    between: Callable[[World], None] | None = None
    second_ok: Callable[[Outcome], bool] | None = None
    check: Callable[[World, list[Outcome]], None] | None = None


def sqs_wrapped(body: Any, queue: str, message_id: str | None = None) -> dict[str, Any]:
    """An SQS event of one message with a fixed message id (a redelivery keeps it)."""
    record = sqs_record(body, queue, message_id=message_id or str(uuid.uuid4()))
    return {"Records": [record]}


def action_item(action: str, **payload: Any) -> dict[str, Any]:
    """One work item on the action queue."""
    return sqs_wrapped({"action": action, **payload}, ACTION_QUEUE)


# imaging -----------------------------------------------------------------------------------------
def _upload(w: World) -> tuple[str, str]:
    from opsfn.routes.imaging import jobs
    from tests.imaging.conftest import BUCKET, TABLE, jpeg_bytes, make_resources

    w.env(UPLOAD_BUCKET=BUCKET, TABLE_NAME=TABLE)
    make_resources()
    job_id = str(uuid.uuid4())
    key = f"uploads/{job_id}/original"
    jobs.create(job_id, file_type="image/jpeg", file_name="photo.jpg", s3_key=key)
    aws.client("s3").put_object(Bucket=BUCKET, Key=key, Body=jpeg_bytes((200, 160)))
    return BUCKET, key


def upload_direct(w: World) -> dict[str, Any]:
    return s3_event(*_upload(w))


def upload_eventbridge(w: World) -> dict[str, Any]:
    return s3_eventbridge_event(*_upload(w))


def upload_sns_sqs(w: World) -> dict[str, Any]:
    bucket, key = _upload(w)
    return sqs_wrapped(sns_envelope(s3_event(bucket, key), "opsfn-s3-topic"), S3_QUEUE)


def _job_complete(w: World, outcomes: list[Outcome]) -> None:
    from opsfn.routes.imaging import jobs

    items = aws.client("dynamodb").scan(TableName="ImageAnalysisResults")["Items"]
    [item] = [jobs.from_item(i) for i in items]
    assert item["status"] == "complete" and item["attempts"] == 1, item


# glue ---------------------------------------------------------------------------------------------
LANDING = "fhir-landing"
WORKFLOW = "fhir-etl"


def _lake(w: World) -> None:
    aws.client("s3").create_bucket(Bucket=LANDING)
    aws.client("glue").create_workflow(Name=WORKFLOW)
    w.env(LANDING_BUCKET=LANDING, GLUE_WORKFLOW_NAME=WORKFLOW, LANDING_PREFIX="landing/",
          QUARANTINE_PREFIX="quarantine/")


def landed(w: World) -> dict[str, Any]:
    _lake(w)
    aws.client("s3").put_object(Bucket=LANDING, Key="landing/p1.json",
                                Body=b'{"resourceType": "Patient"}')
    return s3_event(LANDING, "landing/p1.json")


def landed_via_sqs(w: World) -> dict[str, Any]:
    return sqs_wrapped(landed(w), S3_QUEUE)


def landed_invalid(w: World) -> dict[str, Any]:
    _lake(w)
    aws.client("s3").put_object(Bucket=LANDING, Key="landing/broken.json", Body=b"{not json")
    return s3_event(LANDING, "landing/broken.json")


def _one_alert(w: World, outcomes: list[Outcome]) -> None:
    assert len(w.inbox.messages()) == 1


def etl_schedule(w: World) -> dict[str, Any]:
    _lake(w)
    return schedule_event("etl-scheduled-run")


def glue_failed(w: World) -> dict[str, Any]:
    _lake(w)
    return eventbridge_event("aws.glue", "Glue Job State Change", {
        "jobName": "bronze-to-silver", "state": "FAILED", "jobRunId": "jr_1",
        "severity": "ERROR", "message": "boom"})


def glue_succeeded_with_pending(w: World) -> dict[str, Any]:
    from opsfn.routes.etl import runs

    _lake(w)
    runs.mark_pending(WORKFLOW, "run_active")
    return eventbridge_event("aws.glue", "Glue Job State Change", {
        "jobName": "bronze-to-silver", "state": "SUCCEEDED", "jobRunId": "jr_2"})


# database ---------------------------------------------------------------------------------------
DB = "dash-db"
DB_KEY = f"state#database#instance#{DB}"


def _set_db_status(status: str) -> None:
    from moto.rds.models import rds_backends

    rds_backends[ACCOUNT][REGION].databases[DB].status = status


def _database(w: World, status: str = "available", instance_class: str = "db.t3.micro") -> None:
    aws.client("rds").create_db_instance(
        DBInstanceIdentifier=DB, DBInstanceClass=instance_class, Engine="postgres",
        MasterUsername="admin", MasterUserPassword="password123", AllocatedStorage=20)
    w.env(DB_INSTANCE_ID=DB)
    _set_db_status(status)


def idle_database(w: World) -> dict[str, Any]:
    from opsfn.routes.database import store

    _database(w)
    two_hours_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    store.mark_started(DB_KEY, two_hours_ago, "r1")
    return schedule_event("database-auto-stop")


def stop_request(w: World) -> dict[str, Any]:
    _database(w)
    return invoke_event("stop_database", reason="maintenance")


def start_click(w: World) -> dict[str, Any]:
    _database(w, status="stopped")
    return http_v2_event("POST", "/database/start", auth="iam")


def start_invoke(w: World) -> dict[str, Any]:
    _database(w, status="stopped")
    return invoke_event("start_database")


def _is_conflict(outcome: Outcome) -> bool:
    return outcome.error is not None and type(outcome.error).__name__ == "Conflict"


def rds_still_says_stopped(w: World) -> None:
    """RDS reports ``stopped`` for a moment after StartDBInstance (moto starts at once)."""
    _set_db_status("stopped")


def _status_is(*statuses: int) -> Callable[[Outcome], bool]:
    return lambda outcome: outcome.http_status in statuses


def activity_report(w: World) -> dict[str, Any]:
    _database(w)
    return invoke_event("record_activity", at="2026-01-01T10:00:00Z", source="dashboard")


def activity_post(w: World) -> dict[str, Any]:
    _database(w)
    return http_v2_event("POST", "/database/activity", body={"at": "2026-01-01T10:00:00Z"},
                         auth="iam")


# incidents --------------------------------------------------------------------------------------
LADDER = ["db.r5.large", "db.r5.xlarge", "db.r5.2xlarge"]


def _targets(w: World, config: dict[str, Any]) -> None:
    w.env(INCIDENT_TARGETS=json.dumps(config))


def _incident(action: str, target: str) -> dict[str, Any]:
    return invoke_event(action, target=target, incidentId="INC-42", priority="high",
                        incidentDetails={"title": "api latency"})


def restart_ecs(w: World) -> dict[str, Any]:
    ecs = aws.client("ecs")
    ecs.create_cluster(clusterName="prod")
    ecs.register_task_definition(family="api", containerDefinitions=[
        {"name": "api", "image": "nginx", "memory": 128}])
    ecs.create_service(cluster="prod", serviceName="api", taskDefinition="api", desiredCount=2)
    _targets(w, {"api": {"kind": "ecs", "cluster": "prod", "service": "api"}})
    return _incident("restart_service", "api")


def scale_database(w: World) -> dict[str, Any]:
    _database(w, instance_class="db.r5.large")
    _targets(w, {"database": {"kind": "rds_instance", "instanceId": DB, "ladder": LADDER}})
    return _incident("scale_up", "database")


def _db_class_moved_one_rung(w: World, outcomes: list[Outcome]) -> None:
    instance = aws.client("rds").describe_db_instances(DBInstanceIdentifier=DB)["DBInstances"][0]
    assert instance["DBInstanceClass"] == "db.r5.xlarge"


def flush_sessions(w: World) -> dict[str, Any]:
    server = w.request.getfixturevalue("redis_server")
    w.request.getfixturevalue("secret")(REDIS_PASSWORD)
    arn = aws.client("secretsmanager").create_secret(
        Name="redis-auth", SecretString=json.dumps({"password": REDIS_PASSWORD}))["ARN"]
    _targets(w, {"sessions": {"kind": "redis", "redis": {
        "host": server.host, "port": server.port, "db": 3, "caFile": server.ca_file,
        "secretArn": arn}}})
    redis = server.client(db=3)
    redis.set("session:1", "x")

    def flushes() -> int:
        stats = redis.info("commandstats")
        return sum(int(stats.get(name, {}).get("calls", 0))
                   for name in ("cmdstat_flushdb", "cmdstat_flushall"))

    w.ledger.probes["redis.flushes"] = flushes
    w.ledger.probes["redis.keys"] = lambda: -int(redis.dbsize())  # a flush drops the one key
    return _incident("clear_cache", "sessions")


def notify(w: World) -> dict[str, Any]:
    _targets(w, {"api": {"kind": "ecs", "cluster": "prod", "service": "api"}})
    return _incident("notify_human", "api")


def notify_without_target(w: World) -> dict[str, Any]:
    return invoke_event("notify_human", target=None, incidentId="INC-43", priority="low")


def nothing_to_do(w: World) -> dict[str, Any]:
    return invoke_event("none", target=None, incidentId="INC-44", priority="low")


# TLS ----------------------------------------------------------------------------------------------
def _ssl(w: World) -> Path:
    from opsfn.routes.tls import certs

    root = w.tmp_path / "ssl"
    root.mkdir(exist_ok=True)
    w.env(SSL_DIR=str(root), SSL_LOCK_WAIT_SECONDS="30")
    real = certs.generate
    made: list[int] = []

    def counting(*args: Any, **kwargs: Any) -> Any:
        made.append(1)
        return real(*args, **kwargs)

    w.monkeypatch.setattr(certs, "generate", counting)
    w.ledger.probes["tls.generated"] = lambda: len(made)
    return root


def ssl_invoke(w: World) -> dict[str, Any]:
    _ssl(w)
    return invoke_event("generate_ssl_materials", common_name="app.internal")


def ssl_queued(w: World) -> dict[str, Any]:
    _ssl(w)
    w.env(OPSFN_ACTION_QUEUE=ACTION_QUEUE)
    return action_item("generate_ssl_materials", common_name="app.internal")


def ssl_expiring(w: World) -> dict[str, Any]:
    from opsfn.routes.tls.routes import Layout, SslInput, ensure_materials

    root = _ssl(w)
    ensure_materials(Layout(root), SslInput(validity_days=1))  # due for renewal
    return schedule_event("rotate-ssl-materials")


def ssl_resource(w: World) -> dict[str, Any]:
    _ssl(w)
    return custom_resource_event("Create", "Custom::SslMaterials", {"CommonName": "app.internal"},
                                 response_url=w.response_url())


def _answers_agree(w: World, outcomes: list[Outcome]) -> None:
    """One answer per delivery, all SUCCESS, naming the same physical resource."""
    assert w.server is not None
    answers = [r["body"] for r in w.server.received]
    assert len(answers) == len(outcomes)
    assert {a["Status"] for a in answers} == {"SUCCESS"}, [a.get("Reason") for a in answers]
    assert len({a["PhysicalResourceId"] for a in answers}) == 1, answers


def _answers_identical(w: World, outcomes: list[Outcome]) -> None:
    _answers_agree(w, outcomes)
    assert w.server is not None
    assert len({json.dumps(r["body"]["Data"], sort_keys=True) for r in w.server.received}) == 1


# SMTP ---------------------------------------------------------------------------------------------
def _secret_versions(name: str) -> Callable[[], int]:
    def versions() -> int:
        from opsfn.routes.ses.smtp.secrets import describe_secret

        if describe_secret(name) is None:
            return 0
        sm = aws.client("secretsmanager")
        return len(sm.list_secret_version_ids(SecretId=name)["Versions"])

    return versions


def _user_keys(user: str) -> Callable[[], int]:
    def keys() -> int:
        iam = aws.client("iam")
        try:
            return len(iam.list_access_keys(UserName=user)["AccessKeyMetadata"])
        except iam.exceptions.NoSuchEntityException:
            return 0

    return keys


SMTP_USER = {"UserName": "mailer", "IdentityArn": f"arn:aws:ses:{REGION}:{ACCOUNT}:identity/x.org"}


def smtp_resource(w: World) -> dict[str, Any]:
    w.ledger.probes["secret.versions"] = _secret_versions("opsfn/ses-smtp/mailer")
    w.ledger.probes["iam.keys"] = _user_keys("mailer")
    return custom_resource_event("Create", "Custom::SmtpCredential", SMTP_USER,
                                 response_url=w.response_url())


def _credential(w: World) -> str:
    # A rotation keeps the old key for its grace period (default one day): one more key after it.
    w.env(SES_SMTP_KEY_PROPAGATION_SECONDS="0")
    with ResponseURLServer() as server:
        deliver(custom_resource_event("Create", "Custom::SmtpCredential", SMTP_USER,
                                      response_url=server.url), "setup")
        [answer] = server.received
    w.ledger.probes["secret.versions"] = _secret_versions("opsfn/ses-smtp/mailer")
    w.ledger.probes["iam.keys"] = _user_keys("mailer")
    return str(answer["body"]["Data"]["SecretArn"])


def rotation(w: World) -> dict[str, Any]:
    return invoke_event("rotate_smtp_credential", secret_id=_credential(w), rotation_id="rot-1")


def rotation_without_lock_table(w: World) -> dict[str, Any]:
    """Without a lock table rotations cannot take turns: the late copy must undo its own key."""
    event = rotation(w)
    w.monkeypatch.delenv("LOCK_TABLE", raising=False)
    return event


def rotation_queued(w: World) -> dict[str, Any]:
    w.env(OPSFN_ACTION_QUEUE=ACTION_QUEUE)
    return action_item("rotate_smtp_credential", secret_id=_credential(w), rotation_id="rot-1")


def rotation_past_its_grace(w: World) -> dict[str, Any]:
    """A finished rotation whose old key's grace period is over: the schedule deletes it."""
    import time

    from opsfn.routes.ses.smtp import rotation as smtp_rotation

    arn = _credential(w)
    w.env(SES_SMTP_SECRET_ID=arn, SES_SMTP_ROTATION_GRACE_SECONDS="60")
    assert deliver(invoke_event("rotate_smtp_credential", secret_id=arn), "setup").error is None
    w.monkeypatch.setattr(smtp_rotation, "_clock", lambda: time.time() + 120)
    return schedule_event("finish-smtp-rotation", scheduler=True)


# SES receipt rules ------------------------------------------------------------------------------
def _rule_sets(w: World) -> None:
    """Rule sets ``alpha`` and ``legacy`` (active); ``ses.switches`` counts real changes."""
    from moto.ses.models import SESBackend

    real = SESBackend.set_active_receipt_rule_set
    switches: list[str | None] = []

    def counting(backend: SESBackend, rule_set_name: str | None) -> Any:
        before = backend.describe_active_receipt_rule_set()
        result = real(backend, rule_set_name)
        if (before.name if before else None) != rule_set_name:
            switches.append(rule_set_name)
        return result

    ses = aws.client("ses")
    for name in ("alpha", "legacy"):
        ses.create_receipt_rule_set(RuleSetName=name)
    ses.set_active_receipt_rule_set(RuleSetName="legacy")
    w.monkeypatch.setattr(SESBackend, "set_active_receipt_rule_set", counting)
    w.ledger.probes["ses.switches"] = lambda: len(switches)


def rule_set_resource(w: World) -> dict[str, Any]:
    _rule_sets(w)
    return custom_resource_event("Create", "Custom::ActiveReceiptRuleSet",
                                 {"RuleSetName": "alpha"}, response_url=w.response_url())


def rule_set_action(w: World) -> dict[str, Any]:
    _rule_sets(w)
    return invoke_event("activate_receipt_rule_set", rule_set_name="alpha")


# exports ----------------------------------------------------------------------------------------
def _snapshots(w: World) -> None:
    rds = aws.client("rds")
    rds.create_db_cluster(DBClusterIdentifier="emr", Engine="aurora-mysql",
                          MasterUsername="admin", MasterUserPassword="password123")
    rds.create_db_cluster_snapshot(DBClusterIdentifier="emr", DBClusterSnapshotIdentifier="snap-1")
    aws.client("s3").create_bucket(Bucket="exports")
    key = aws.client("kms").create_key()["KeyMetadata"]["Arn"]
    w.env(RDS_EXPORT_CLUSTER_ID="emr", RDS_EXPORT_BUCKET="exports", RDS_EXPORT_KMS_KEY_ID=key,
          RDS_EXPORT_ROLE_ARN=f"arn:aws:iam::{ACCOUNT}:role/rds-export")


def export_invoke(w: World) -> dict[str, Any]:
    _snapshots(w)
    return invoke_event("export_rds_snapshot")


def export_schedule(w: World) -> dict[str, Any]:
    _snapshots(w)
    return schedule_event("export-rds-snapshot")


def _backup(w: World) -> None:
    w.env(BACKUP_VAULT_NAME="vault", BACKUP_ROLE_ARN=f"arn:aws:iam::{ACCOUNT}:role/backup",
          BACKUP_RESOURCE_ARN=f"arn:aws:elasticfilesystem:{REGION}:{ACCOUNT}:file-system/fs-1")
    install_fake_backup(w.ledger)


def backup_retry(w: World) -> dict[str, Any]:
    _backup(w)
    return invoke_event("start_backup_job")


def backup_with_token(w: World) -> dict[str, Any]:
    _backup(w)
    return invoke_event("start_backup_job", idempotency_token="deploy-42")


SYNC_BUCKET = "efs-copy"
TREE = {"a.txt": b"alpha", "top.txt": b"top", "docs/x.txt": b"x" * 100, "docs/y/z.bin": b"z" * 300,
        "logs/c.txt": b"c"}


def _tree(w: World, sharded: bool = False) -> None:
    import os
    import time

    root = w.tmp_path / "efs"
    for rel, data in TREE.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    hour_ago = time.time_ns() - 3600 * 10**9
    for path in root.rglob("*"):
        os.utime(path, ns=(hour_ago, hour_ago))
    aws.client("s3").create_bucket(Bucket=SYNC_BUCKET)
    aws.client("sqs").create_queue(QueueName=ACTION_QUEUE)
    w.env(SYNC_SOURCE_DIR=str(root), SYNC_BUCKET=SYNC_BUCKET, SYNC_PREFIX="efs/",
          OPSFN_ACTION_QUEUE=ACTION_QUEUE, SYNC_SHARD_TOP_LEVEL=str(sharded).lower())


def sync_invoke(w: World) -> dict[str, Any]:
    _tree(w)
    return invoke_event("sync_efs_to_s3")


def sync_work_item(w: World) -> dict[str, Any]:
    _tree(w)
    return action_item("sync_efs_to_s3", run_id="run-1", seq=0)


def sync_schedule_sharded(w: World) -> dict[str, Any]:
    _tree(w, sharded=True)
    return schedule_event("sync-efs-to-s3")


def _datasync_task(w: World) -> None:
    """The task a first DataSync sync would have created (moto has no CreateLocationEfs)."""
    from opsfn.routes.exports.sync.datasync_task import task_spec

    _tree(w)
    w.env(SYNC_ENGINE="datasync",
          SYNC_DATASYNC_EFS_ARN=f"arn:aws:elasticfilesystem:{REGION}:{ACCOUNT}:file-system/fs-1",
          SYNC_DATASYNC_SUBNET_ARN=f"arn:aws:ec2:{REGION}:{ACCOUNT}:subnet/subnet-1",
          SYNC_DATASYNC_SECURITY_GROUP_ARNS=f"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/sg-1",
          SYNC_DATASYNC_S3_ROLE_ARN=f"arn:aws:iam::{ACCOUNT}:role/datasync")
    datasync = aws.client("datasync")
    role = {"BucketAccessRoleArn": f"arn:aws:iam::{ACCOUNT}:role/datasync"}
    source = datasync.create_location_s3(S3BucketArn="arn:aws:s3:::stand-in", S3Config=role)
    target = datasync.create_location_s3(S3BucketArn=f"arn:aws:s3:::{SYNC_BUCKET}", S3Config=role,
                                         Subdirectory="/efs/")
    datasync.create_task(SourceLocationArn=source["LocationArn"],
                         DestinationLocationArn=target["LocationArn"], Name=task_spec(None, []).name)


def sync_invoke_datasync(w: World) -> dict[str, Any]:
    _datasync_task(w)
    return invoke_event("sync_efs_to_s3")


# ses relay --------------------------------------------------------------------------------------
RELAY_ID = "o3vrnil0e2ic28trm7dfhrc2v0cnbeccl4nbp0g1"


def _inbound(w: World) -> None:
    from opsfn.routes.ses import relay_metrics
    from tests.ses.conftest import BUCKET, FORWARD_FROM, FORWARD_TO, PREFIX, plain_text

    aws.client("s3").create_bucket(Bucket=BUCKET)
    aws.client("s3").put_object(Bucket=BUCKET, Key=PREFIX + RELAY_ID, Body=plain_text())
    aws.client("ses").verify_domain_identity(Domain="clinic.example")
    w.env(SES_INBOUND_BUCKET=BUCKET, SES_INBOUND_PREFIX=PREFIX, SES_FORWARD_FROM=FORWARD_FROM,
          SES_FORWARD_TO=FORWARD_TO)
    counted: list[str] = []
    real = relay_metrics.count
    w.monkeypatch.setattr(relay_metrics, "count", lambda metric, verdict=None: (
        counted.append(metric), real(metric, verdict)))
    w.ledger.probes["relay.blocked"] = lambda: counted.count(relay_metrics.BLOCKED)


def relay_received(w: World) -> dict[str, Any]:
    _inbound(w)
    return ses_event(RELAY_ID)


def relay_spam(w: World) -> dict[str, Any]:
    _inbound(w)
    return ses_event(RELAY_ID, verdicts={"spam": "FAIL"})


UPLOADS = "s3.PutObject@/efs/"

CASES = [
    # S3 notifications, in their wrappings
    Case("upload-direct", "s3:${UPLOAD_BUCKET}/uploads/*", upload_direct,
         {"rekognition.DetectLabels": 1}, check=_job_complete),
    Case("upload-eventbridge", "s3:${UPLOAD_BUCKET}/uploads/*", upload_eventbridge,
         {"rekognition.DetectLabels": 1}, concurrent=True, check=_job_complete),
    Case("upload-sns-sqs", "s3:${UPLOAD_BUCKET}/uploads/*", upload_sns_sqs,
         {"rekognition.DetectLabels": 1}, concurrent=True, same_request_id=False,
         check=_job_complete),
    # a copy arriving while another is in flight is refused for a retry (its record fails)
    Case("landing-direct", "s3:${LANDING_BUCKET}/*", landed,
         {"glue.StartWorkflowRun": 1}, concurrent=True, retry_errors=("RecordsFailed",)),
    Case("landing-sqs", "s3:${LANDING_BUCKET}/*", landed_via_sqs,
         {"glue.StartWorkflowRun": 1}, concurrent=True, same_request_id=False,
         retry_errors=("RecordsFailed",)),
    Case("landing-quarantine", "s3:${LANDING_BUCKET}/*", landed_invalid,
         {"s3.CopyObject": 1, "sns.Publish": 1, "s3.DeleteObject": 1, "glue.StartWorkflowRun": 0},
         concurrent=True, retry_errors=("RecordsFailed",), check=_one_alert),
    # schedules
    Case("etl-schedule", "schedule:etl-scheduled-run", etl_schedule,
         {"glue.StartWorkflowRun": 1}, concurrent=True, retry_errors=("Conflict",)),
    Case("auto-stop", "schedule:database-auto-stop", idle_database,
         {"rds.StopDBInstance": 1}, concurrent=True),
    Case("export-schedule", "schedule:export-rds-snapshot", export_schedule,
         {"rds.StartExportTask": 1}, concurrent=True),
    Case("ssl-rotation", "schedule:rotate-ssl-materials", ssl_expiring,
         {"tls.generated": 1}, concurrent=True),
    # A copy while the first runs is refused for a retry (its marker may be a dead invocation's).
    Case("sync-schedule-sharded", "schedule:sync-efs-to-s3", sync_schedule_sharded,
         {UPLOADS: 2, "sqs.SendMessageBatch": 1}, concurrent=True, retry_errors=("Conflict",)),
    # EventBridge rules
    Case("glue-failed", "eventbridge:aws.glue/Glue Job State Change", glue_failed,
         {"sns.Publish": 1}, concurrent=True, retry_errors=("Conflict",), check=_one_alert),
    Case("glue-succeeded", "eventbridge:aws.glue/Glue Job State Change",
         glue_succeeded_with_pending, {"glue.StartWorkflowRun": 1}, concurrent=True),
    # custom resources
    Case("ssl-resource", "Custom::SslMaterials", ssl_resource, {"tls.generated": 1},
         check=_answers_agree),
    Case("smtp-resource", "Custom::SmtpCredential", smtp_resource,
         {"iam.CreateUser": 1, "iam.CreateAccessKey": 1, "secrets-manager.CreateSecret": 1,
          "secret.versions": 1, "iam.keys": 1}, check=_answers_identical),
    Case("rule-set-resource", "Custom::ActiveReceiptRuleSet", rule_set_resource,
         {"ses.SetActiveReceiptRuleSet": 1, "ses.switches": 1}),
    # direct invokes (async retries keep the Lambda request id)
    Case("restart", "action:restart_service", restart_ecs, {"ecs.UpdateService": 1},
         concurrent=True, retry_errors=("Conflict",)),
    Case("scale-up", "action:scale_up", scale_database, {"rds.ModifyDBInstance": 1},
         concurrent=True, retry_errors=("Conflict",), check=_db_class_moved_one_rung),
    Case("clear-cache", "action:clear_cache", flush_sessions, {"redis.flushes": 1, "redis.keys": 1},
         concurrent=True, retry_errors=("Conflict",)),
    Case("notify", "action:notify_human", notify, {"sns.Publish": 1}, concurrent=True,
         retry_errors=("Conflict",), check=_one_alert),
    Case("notify-null-target", "action:notify_human", notify_without_target, {"sns.Publish": 1},
         concurrent=True, retry_errors=("Conflict",), check=_one_alert),
    # none changes nothing but its records: the claim, its completion and one audit record
    Case("none", "action:none", nothing_to_do, {"dynamodb.PutItem": 2, "dynamodb.UpdateItem": 1},
         concurrent=True, retry_errors=("Conflict",)),
    Case("stop", "action:stop_database", stop_request, {"rds.StopDBInstance": 1},
         concurrent=True),
    Case("start-invoke", "action:start_database", start_invoke, {"rds.StartDBInstance": 1},
         concurrent=True, retry_errors=("Conflict",)),
    Case("start-invoke-while-rds-lags", "action:start_database", start_invoke,
         {"rds.StartDBInstance": 1}, between=rds_still_says_stopped, second_ok=_is_conflict),
    Case("activity", "action:record_activity", activity_report, {"dynamodb.UpdateItem": 1},
         concurrent=True),
    Case("ssl-invoke", "action:generate_ssl_materials", ssl_invoke, {"tls.generated": 1},
         concurrent=True),
    Case("ssl-queued", "action:generate_ssl_materials", ssl_queued, {"tls.generated": 1},
         concurrent=True, same_request_id=False),
    # A rotation keeps the replaced key through its grace period: one new key, none deleted. A
    # copy racing past the in-flight check is refused by IAM's two-keys-per-user limit (Conflict,
    # retryable); its retry then finds the rotation id.
    Case("rotate", "action:rotate_smtp_credential", rotation,
         {"iam.CreateAccessKey": 1, "iam.DeleteAccessKey": 0, "secret.versions": 1, "iam.keys": 1},
         concurrent=True, retry_errors=("Conflict", "UpstreamError")),
    Case("rotate-late-copy", "action:rotate_smtp_credential", rotation_without_lock_table,
         {"iam.CreateAccessKey": 1, "iam.DeleteAccessKey": 0, "secret.versions": 1, "iam.keys": 1},
         concurrent=True, retry_errors=("Conflict",), hold="CreateAccessKey"),
    Case("rotate-held-lock", "action:rotate_smtp_credential", rotation,
         {"iam.CreateAccessKey": 1, "iam.DeleteAccessKey": 0, "secret.versions": 1, "iam.keys": 1},
         concurrent=True, retry_errors=("Conflict",), hold="PutItem"),
         # both copies race for the rotation's turn (a PutItem in the lock table); the late one
         # takes it after the first finished and finds the rotation id: it never makes a key
    Case("rotate-queued", "action:rotate_smtp_credential", rotation_queued,
         {"iam.CreateAccessKey": 1, "iam.DeleteAccessKey": 0, "secret.versions": 1, "iam.keys": 1},
         concurrent=True, same_request_id=False, retry_errors=("Conflict", "UpstreamError")),
    Case("finish-rotation", "schedule:finish-smtp-rotation", rotation_past_its_grace,
         {"iam.DeleteAccessKey": 1, "iam.keys": -1, "secret.versions": 0}, concurrent=True,
         retry_errors=("Conflict",)),
    Case("activate-rule-set", "action:activate_receipt_rule_set", rule_set_action,
         {"ses.SetActiveReceiptRuleSet": 1, "ses.switches": 1}, concurrent=True,
         concurrent_effects={"ses.switches": 1}, hold="SetActiveReceiptRuleSet"),
    Case("export", "action:export_rds_snapshot", export_invoke, {"rds.StartExportTask": 1},
         concurrent=True),
    Case("export-late-copy", "action:export_rds_snapshot", export_invoke,
         {"rds.StartExportTask": 1}, concurrent=True, hold="StartExportTask"),
    Case("backup-retry", "action:start_backup_job", backup_retry, {"backup.jobs": 1},
         concurrent=True),
    Case("backup-token", "action:start_backup_job", backup_with_token, {"backup.jobs": 1},
         concurrent=True, same_request_id=False),
    Case("sync-invoke", "action:sync_efs_to_s3", sync_invoke, {UPLOADS: len(TREE)},
         concurrent=True, retry_errors=("Conflict",)),
    Case("sync-work-item", "action:sync_efs_to_s3", sync_work_item, {UPLOADS: len(TREE)},
         concurrent=True, same_request_id=False, retry_errors=("Conflict",)),
    Case("sync-invoke-datasync", "action:sync_efs_to_s3", sync_invoke_datasync,
         {"datasync.StartTaskExecution": 1, UPLOADS: 0}, concurrent=True),
    # SES receipt events (async: SES and Lambda may deliver one twice, even at once)
    Case("relay", "ses:receipt", relay_received, {"ses.SendRawEmail": 1}, concurrent=True,
         retry_errors=("RecordsFailed",)),
    Case("relay-held-lock", "ses:receipt", relay_received, {"ses.SendRawEmail": 1},
         concurrent=True, retry_errors=("RecordsFailed",), hold="PutItem"),
    Case("relay-blocked", "ses:receipt", relay_spam, {"relay.blocked": 1, "ses.SendRawEmail": 0},
         concurrent=True, retry_errors=("RecordsFailed",)),
    # HTTP: no platform redelivery, but a double click or a client retry is the same thing
    Case("start-double-click", "POST /database/start", start_click, {"rds.StartDBInstance": 1},
         concurrent=True, retry_errors=("Conflict",)),
    Case("start-while-rds-lags", "POST /database/start", start_click, {"rds.StartDBInstance": 1},
         between=rds_still_says_stopped, second_ok=_status_is(409)),
    Case("activity-post", "POST /database/activity", activity_post, {"dynamodb.UpdateItem": 1},
         concurrent=True),
]

READ_ONLY = {
    "action:health": "reports version and route counts; calls nothing",
    "GET /health": "the same report over HTTP",
    "action:backup_job_status": "DescribeBackupJob only",
    "action:export_status": "DescribeExportTasks only",
    "action:sync_status": "DescribeTask and DescribeTaskExecution, or a lock read and one HEAD",
    "GET /database/status": "DescribeDBInstances/Clusters and one GetItem (and, once the "
                            "database is seen stopped after a start, the start lock cleared)",
    "action:database_status": "the same as GET /database/status",
    "GET /get-results": "reads the job item and presigns a URL locally",
    "POST /request-upload": "each request is a new upload slot by design (a new jobId, expiring "
                            "by TTL); it starts no processing, which the S3 route dedupes",
}


# -- the harness ----------------------------------------------------------------------------------
def _request_ids(case: Case, copies: int) -> list[str]:
    if case.same_request_id:
        return [f"req-{case.id}"] * copies
    return [f"req-{case.id}-{index}" for index in range(copies)]


def _arranged(case: Case, w: World) -> tuple[dict[str, Any], dict[str, int]]:
    event = case.arrange(w)
    return event, w.ledger.measure({**case.effects, **(case.concurrent_effects or {})})


def _delta(w: World, case: Case, base: dict[str, int],
           effects: dict[str, int] | None = None) -> dict[str, int]:
    wanted = effects if effects is not None else case.effects
    now = w.ledger.measure(wanted)
    return {name: now[name] - base[name] for name in wanted}


def _succeeded(outcome: Outcome) -> bool:
    status = outcome.http_status
    return outcome.error is None and not outcome.failed_messages and (status is None or status < 400)


def _refused_for_retry(case: Case, outcome: Outcome) -> bool:
    """A copy refused with a documented retryable error (raised, a failed SQS item, or 409)."""
    if outcome.error is not None:
        return type(outcome.error).__name__ in case.retry_errors
    if outcome.failed_messages:
        return bool(case.retry_errors)
    return outcome.http_status == 409 and "Conflict" in case.retry_errors


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_replayed_delivery_acts_once(world: World, case: Case) -> None:
    """The same delivery twice in a row: the second changes nothing and still answers well."""
    event, base = _arranged(case, world)
    first_id, second_id = _request_ids(case, 2)
    first = deliver(event, first_id)
    assert _succeeded(first), first.describe()
    once = _delta(world, case, base)
    assert once == case.effects, f"first delivery: {once}"
    if case.between is not None:
        case.between(world)
    second = deliver(event, second_id)
    accepted = case.second_ok(second) if case.second_ok else _succeeded(second)
    assert accepted, second.describe()
    assert _delta(world, case, base) == case.effects, world.ledger.operations()
    if case.check is not None:
        case.check(world, [first, second])


CONCURRENT = [c for c in CASES if c.concurrent]


@pytest.mark.parametrize("case", CONCURRENT, ids=[c.id for c in CONCURRENT])
def test_concurrent_deliveries_act_once(world: World, case: Case) -> None:
    """Two copies at the same moment, then the source's retry of a refused copy: one effect."""
    event, base = _arranged(case, world)
    ids = _request_ids(case, 3)
    barrier = threading.Barrier(2)
    gate = world.ledger.gate = Gate(case.hold) if case.hold else None

    def copy_of(request_id: str) -> Outcome:
        barrier.wait(10)
        try:
            return deliver(event, request_id)
        finally:
            if gate is not None:
                gate.delivered()

    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(copy_of, ids[:2]))
    for outcome in outcomes:
        assert _succeeded(outcome) or _refused_for_retry(case, outcome), outcome.describe()
    assert any(_succeeded(o) for o in outcomes), [o.describe() for o in outcomes]
    expected = case.concurrent_effects or case.effects
    assert _delta(world, case, base, expected) == expected, world.ledger.operations()
    if gate is not None:
        world.ledger.gate = None
        assert gate.held == 1, f"the late copy never reached {case.hold}"
    retry = deliver(event, ids[2] if not case.same_request_id else ids[0])
    assert _succeeded(retry), retry.describe()
    assert _delta(world, case, base, expected) == expected, world.ledger.operations()
    if case.check is not None:
        case.check(world, [*outcomes, retry])


def test_every_route_is_replayed_or_read_only() -> None:
    """A new route must join the matrix or say why it has no side effect to repeat."""
    labels = {route.label for route in _handler_app().registry.routes}
    covered = {case.route for case in CASES}
    assert not covered & set(READ_ONLY), "a route is both replayed and called read-only"
    missing = sorted(labels - covered - set(READ_ONLY))
    assert missing == [], f"routes with no duplicate-delivery case: {missing}"
    stale = sorted((covered | set(READ_ONLY)) - labels)
    assert stale == [], f"cases for routes that no longer exist: {stale}"
    assert all(reason.strip() for reason in READ_ONLY.values())


def test_ledger_counts_what_reaches_aws(world: World) -> None:
    """The counting itself: answered requests only, by operation and URL part."""
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="probe")
    s3.put_object(Bucket="probe", Key="efs/a", Body=b"1")
    s3.put_object(Bucket="probe", Key="other/b", Body=b"2")
    with pytest.raises(s3.exceptions.NoSuchKey):
        s3.get_object(Bucket="probe", Key="missing")
    assert world.ledger.calls("s3.PutObject") == 2
    assert world.ledger.calls("s3.PutObject", "/efs/") == 1
    assert world.ledger.calls("s3.GetObject") == 0  # errors are not side effects


def test_duplicate_rule_set_create_answers_the_same_physical_id(world: World) -> None:
    """Both answers to one Create request must name the same physical resource (a copy finds its
    own set active already; the first answer's record keeps what was active before)."""
    event = rule_set_resource(world)
    for _ in range(2):
        assert _succeeded(deliver(event, "req-rule-set"))
    _answers_identical(world, [Outcome(), Outcome()])
