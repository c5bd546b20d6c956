"""The DataSync backend of sync_efs_to_s3 and sync_status.

moto's DataSync answers ListTasks, DescribeTask, CreateLocationS3, CreateTask,
StartTaskExecution and DescribeTaskExecution (status only): the reuse, busy and status paths run
against it end to end. It has no CreateLocationEfs and no execution figures: the first run
(locations and task created) and the figures are checked with botocore's Stubber, which
validates every request against the real service model. The lock table and the bucket stay in
moto in both cases.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from botocore.stub import Stubber

from opsfn.errors import (
    Conflict,
    InvalidSetting,
    MissingSetting,
    NotFound,
    UpstreamError,
    ValidationFailed,
)
from opsfn.routes.exports.sync.datasync import TaskSpec, execution_figures
from opsfn.routes.exports.sync.datasync_task import task_spec
from opsfn.services import aws, locks
from opsfn.testing import Client
from tests.exports.conftest import BUCKET
from tests.stubs import stubbed

ACCOUNT = "123456789012"
EFS = f"arn:aws:elasticfilesystem:us-east-1:{ACCOUNT}:file-system/fs-0123456789abcdef0"
SUBNET = f"arn:aws:ec2:us-east-1:{ACCOUNT}:subnet/subnet-0123456789abcdef0"
GROUP = f"arn:aws:ec2:us-east-1:{ACCOUNT}:security-group/sg-0123456789abcdef0"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/opsfn-datasync"
TASK = f"arn:aws:datasync:us-east-1:{ACCOUNT}:task/task-0123456789abcdef0"
EXECUTION = f"{TASK}/execution/exec-0123456789abcdef0"
SOURCE = f"arn:aws:datasync:us-east-1:{ACCOUNT}:location/loc-0123456789abcdef0"
DESTINATION = f"arn:aws:datasync:us-east-1:{ACCOUNT}:location/loc-0123456789abcdef1"


@pytest.fixture
def datasync_env(tree: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The exports tree, with the TLS directory inside it, synced by DataSync."""
    ssl = tree / "ssl" / "private"
    ssl.mkdir(parents=True)
    (ssl / "selfsigned.key.pem").write_bytes(b"-----BEGIN PRIVATE KEY-----\n")
    for name, value in {"SYNC_ENGINE": "datasync", "SSL_DIR": str(tree / "ssl"),
                        "SYNC_DATASYNC_EFS_ARN": EFS, "SYNC_DATASYNC_SUBNET_ARN": SUBNET,
                        "SYNC_DATASYNC_SECURITY_GROUP_ARNS": GROUP,
                        "SYNC_DATASYNC_S3_ROLE_ARN": ROLE,
                        "SYNC_DATASYNC_EFS_SUBDIRECTORY": "/opsfn"}.items():
        monkeypatch.setenv(name, value)
    return tree


@pytest.fixture
def stub(datasync_env: Path) -> Iterator[Stubber]:
    with stubbed("datasync") as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def _spec() -> TaskSpec:
    import os

    return task_spec(None, [os.environ["SSL_DIR"]])


def _moto_task(name: str | None = None) -> str:
    """A task as a first run creates it, built in moto from two S3 locations (no EFS there)."""
    client = aws.client("datasync")
    config = {"BucketAccessRoleArn": ROLE}
    source = client.create_location_s3(S3BucketArn="arn:aws:s3:::stand-in", S3Config=config)
    target = client.create_location_s3(S3BucketArn=f"arn:aws:s3:::{BUCKET}", S3Config=config,
                                       Subdirectory="/efs/")
    return client.create_task(SourceLocationArn=source["LocationArn"],
                              DestinationLocationArn=target["LocationArn"],
                              Name=name or _spec().name)["TaskArn"]


# -- the task's shape --------------------------------------------------------------------------
def test_the_spec_excludes_ssl_dir_like_the_walk(datasync_env: Path) -> None:
    spec = _spec()
    assert spec.excludes == ("ssl/",)
    assert spec.exclude_filters() == [{"FilterType": "SIMPLE_PATTERN", "Value": "/ssl"}]
    assert spec.subdirectory == "/opsfn/" and spec.prefix == "efs/"
    assert spec.s3_location()["Subdirectory"] == "/efs/"
    assert spec.name.startswith("opsfn-sync-") and len(spec.name) <= 256
    # Equal settings, equal task; a changed prefix or exclude is another task.
    assert task_spec(None, [str(datasync_env / "ssl")]).name == spec.name
    assert task_spec("other/", [str(datasync_env / "ssl")]).name != spec.name
    assert task_spec(None, []).name != spec.name


def test_a_source_inside_ssl_dir_is_refused(datasync_env: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNC_SOURCE_DIR", str(datasync_env / "ssl" / "private"))
    with pytest.raises(InvalidSetting):
        task_spec(None, [str(datasync_env / "ssl")])


# -- first run: locations and task created once (Stubber: moto has no CreateLocationEfs) --------
def test_the_first_sync_creates_locations_and_task_then_starts_it(
        client: Client, stub: Stubber, datasync_env: Path) -> None:
    spec = _spec()
    stub.add_response("list_tasks", {"Tasks": []}, {})
    stub.add_response("list_tasks", {"Tasks": []}, {})  # checked again under the creation lock
    stub.add_response("create_location_efs", {"LocationArn": SOURCE}, {
        "EfsFilesystemArn": EFS, "Subdirectory": "/opsfn/",
        "Ec2Config": {"SubnetArn": SUBNET, "SecurityGroupArns": [GROUP]},
        "InTransitEncryption": "TLS1_2", "Tags": [{"Key": "opsfn", "Value": "sync"}]})
    stub.add_response("create_location_s3", {"LocationArn": DESTINATION}, {
        "S3BucketArn": f"arn:aws:s3:::{BUCKET}", "Subdirectory": "/efs/",
        "S3StorageClass": "STANDARD", "S3Config": {"BucketAccessRoleArn": ROLE},
        "Tags": [{"Key": "opsfn", "Value": "sync"}]})
    stub.add_response("create_task", {"TaskArn": TASK}, {
        "SourceLocationArn": SOURCE, "DestinationLocationArn": DESTINATION, "Name": spec.name,
        "Options": {"TransferMode": "CHANGED", "VerifyMode": "ONLY_FILES_TRANSFERRED",
                    "OverwriteMode": "ALWAYS", "PreserveDeletedFiles": "PRESERVE",
                    "LogLevel": "OFF"},
        "Excludes": [{"FilterType": "SIMPLE_PATTERN", "Value": "/ssl"}],
        "Tags": [{"Key": "opsfn", "Value": "sync"}]})
    stub.add_response("describe_task", {"TaskArn": TASK, "Status": "AVAILABLE"},
                      {"TaskArn": TASK})
    stub.add_response("start_task_execution", {"TaskExecutionArn": EXECUTION}, {
        "TaskArn": TASK, "OverrideOptions": {"PreserveDeletedFiles": "PRESERVE"}})
    reply = client.invoke("sync_efs_to_s3")
    assert reply == {"status": "started", "engine": "datasync", "complete": False,
                     "task_arn": TASK, "task_execution_arn": EXECUTION, "task_created": True}
    record = [k for k in _keys() if k.endswith("datasync.json")]
    assert len(record) == 1 and record[0].startswith(".opsfn-sync/")
    assert json.loads(_body(record[0]))["task_execution_arn"] == EXECUTION
    assert not [k for k in _keys() if k.startswith("efs/")]  # the function copied nothing itself


def test_a_delete_request_is_passed_to_the_execution(client: Client, stub: Stubber,
                                                     datasync_env: Path) -> None:
    stub.add_response("list_tasks", {"Tasks": [{"TaskArn": TASK, "Name": _spec().name}]}, {})
    stub.add_response("describe_task", {"TaskArn": TASK, "Status": "AVAILABLE"}, {"TaskArn": TASK})
    stub.add_response("start_task_execution", {"TaskExecutionArn": EXECUTION}, {
        "TaskArn": TASK, "OverrideOptions": {"PreserveDeletedFiles": "REMOVE"}})
    reply = client.invoke("sync_efs_to_s3", delete=True)
    assert reply["task_created"] is False and reply["status"] == "started"


def test_a_failed_start_frees_the_guard_so_the_retry_starts(
        client: Client, stub: Stubber, datasync_env: Path) -> None:
    listed = {"Tasks": [{"TaskArn": TASK, "Name": _spec().name}]}
    stub.add_response("list_tasks", listed, {})
    stub.add_response("describe_task", {"TaskArn": TASK, "Status": "AVAILABLE"}, {"TaskArn": TASK})
    stub.add_client_error("start_task_execution", "InternalException", http_status_code=500)
    with pytest.raises(UpstreamError, match="StartTaskExecution failed: InternalException"):
        client.invoke("sync_efs_to_s3")
    stub.add_response("list_tasks", listed, {})
    stub.add_response("describe_task", {"TaskArn": TASK, "Status": "AVAILABLE"}, {"TaskArn": TASK})
    stub.add_response("start_task_execution", {"TaskExecutionArn": EXECUTION}, {
        "TaskArn": TASK, "OverrideOptions": {"PreserveDeletedFiles": "PRESERVE"}})
    assert client.invoke("sync_efs_to_s3")["status"] == "started"


def test_an_unavailable_task_is_a_clear_error(client: Client, stub: Stubber,
                                              datasync_env: Path) -> None:
    stub.add_response("list_tasks", {"Tasks": [{"TaskArn": TASK, "Name": _spec().name}]}, {})
    stub.add_response("describe_task", {"TaskArn": TASK, "Status": "UNAVAILABLE"},
                      {"TaskArn": TASK})
    with pytest.raises(UpstreamError, match="UNAVAILABLE"):
        client.invoke("sync_efs_to_s3")


def test_a_second_first_run_waits_for_the_task_being_created(
        client: Client, stub: Stubber, datasync_env: Path) -> None:
    locks.acquire(f"sync-datasync-create:{_spec().fingerprint}", 300)
    stub.add_response("list_tasks", {"Tasks": []}, {})
    with pytest.raises(Conflict, match="being created"):
        client.invoke("sync_efs_to_s3")


def test_figures_are_reported_without_file_names(client: Client, stub: Stubber,
                                                 datasync_env: Path) -> None:
    stub.add_response("describe_task_execution", {
        "TaskExecutionArn": EXECUTION, "Status": "TRANSFERRING",
        "StartTime": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        "EstimatedFilesToTransfer": 1200, "EstimatedBytesToTransfer": 4_000_000,
        "FilesTransferred": 300, "BytesTransferred": 1_000_000, "BytesWritten": 1_000_000,
        "BytesCompressed": 0, "FilesDeleted": 2, "FilesSkipped": 7, "FilesVerified": 290,
        "FilesListed": {"AtSource": 1300, "AtDestinationForDelete": 4},
        "FilesFailed": {"Prepare": 1, "Transfer": 2, "Verify": 0, "Delete": 0},
        "Result": {"PrepareDuration": 4200, "PrepareStatus": "SUCCESS", "TransferDuration": 9000,
                   "TransferStatus": "PENDING", "ErrorCode": "SyncTaskErrorLocationNotAdded",
                   "ErrorDetail": "/opsfn/sites/default/documents/Jane-Patient.pdf: denied"},
    }, {"TaskExecutionArn": EXECUTION})
    reply = client.invoke("sync_status", task_execution_arn=EXECUTION)
    assert reply["status"] == "TRANSFERRING" and reply["complete"] is False
    assert reply["percent"] == 25.0
    assert (reply["files_expected"], reply["files_transferred"], reply["files_failed"]) == (
        1200, 300, 3)
    assert reply["files_listed"] == 1300 and reply["bytes_written"] == 1_000_000
    assert reply["phases"]["prepare"] == {"status": "SUCCESS", "ms": 4200}
    assert reply["started"] == "2026-01-02T03:04:05+00:00"
    assert reply["error_code"] == "SyncTaskErrorLocationNotAdded"
    assert "Jane" not in json.dumps(reply) and "documents" not in json.dumps(reply)


def test_status_of_the_last_execution_after_it_ended(client: Client, stub: Stubber,
                                                     datasync_env: Path) -> None:
    """Without an ARN: the running execution, else the one the last start recorded."""
    spec = _spec()
    stub.add_response("list_tasks", {"Tasks": []}, {})
    with pytest.raises(NotFound, match="run sync_efs_to_s3 first"):
        client.invoke("sync_status")
    listed = {"Tasks": [{"TaskArn": TASK, "Name": spec.name}]}
    stub.add_response("list_tasks", listed, {})
    stub.add_response("describe_task", {"TaskArn": TASK, "Status": "AVAILABLE"}, {"TaskArn": TASK})
    with pytest.raises(NotFound, match="no DataSync execution"):
        client.invoke("sync_status")
    from opsfn.routes.exports.sync import datasync_task

    datasync_task._record(spec, TASK, EXECUTION)
    stub.add_response("list_tasks", listed, {})
    stub.add_response("describe_task", {"TaskArn": TASK, "Status": "AVAILABLE"}, {"TaskArn": TASK})
    stub.add_response("describe_task_execution", {
        "TaskExecutionArn": EXECUTION, "Status": "SUCCESS", "EstimatedBytesToTransfer": 0},
        {"TaskExecutionArn": EXECUTION})
    reply = client.invoke("sync_status")
    assert reply["task_execution_arn"] == EXECUTION
    assert reply["status"] == "SUCCESS" and reply["complete"] and reply["percent"] == 100.0


def test_execution_figures_of_an_empty_reply_are_zeros() -> None:
    figures = execution_figures({})
    assert figures["status"] == "UNKNOWN" and figures["percent"] == 0.0
    assert figures["files_failed"] == 0 and figures["error_code"] is None
    json.dumps(figures)


# -- moto: reuse, busy, progress, the next run -------------------------------------------------
def test_the_task_is_reused_and_runs_one_execution_at_a_time(client: Client,
                                                              datasync_env: Path) -> None:
    task = _moto_task()
    _moto_task("someone-elses-task")
    first = client.invoke("sync_efs_to_s3")
    assert first["status"] == "started" and first["task_arn"] == task
    assert first["task_created"] is False
    # A copy within the start guard, and a schedule firing once the guard is gone, find it busy.
    again = client.invoke("sync_efs_to_s3")
    assert again["status"] == "busy"
    assert again["task_execution_arn"] == first["task_execution_arn"]
    guard = {"lockId": {"S": f"sync-datasync-start:{task.rsplit('/', 1)[-1]}"}}
    aws.client("dynamodb").delete_item(TableName="opsfn-locks", Key=guard)
    scheduled = client.schedule("sync-efs-to-s3")
    assert scheduled["result"]["status"] == "busy"
    # sync_status follows the execution to its end (moto advances one phase per call).
    seen = []
    for _ in range(10):
        status = client.invoke("sync_status")
        seen.append(status["status"])
        assert status["task_execution_arn"] == first["task_execution_arn"]
        if status["complete"]:
            break
    assert seen[-1] == "SUCCESS" and "TRANSFERRING" in seen
    # The task is free again: once the guard's minute is over, the next sync starts a new
    # execution of the same task.
    aws.client("dynamodb").delete_item(TableName="opsfn-locks", Key=guard)
    second = client.invoke("sync_efs_to_s3")
    assert second["status"] == "started" and second["task_arn"] == task
    assert second["task_execution_arn"] != first["task_execution_arn"]
    assert len(aws.client("datasync").list_tasks()["Tasks"]) == 2  # nothing created


def test_in_function_only_fields_are_refused_with_datasync(client: Client,
                                                           datasync_env: Path) -> None:
    _moto_task()
    with pytest.raises(ValidationFailed) as caught:
        client.invoke("sync_efs_to_s3", run_id="run-1", seq=3, compare="listing")
    assert {d["loc"] for d in caught.value.details} == {"payload.run_id", "payload.seq",
                                                        "payload.compare"}


def test_missing_or_invalid_settings_name_the_variable(client: Client, datasync_env: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SYNC_DATASYNC_S3_ROLE_ARN")
    with pytest.raises(MissingSetting, match="SYNC_DATASYNC_S3_ROLE_ARN"):
        client.invoke("sync_efs_to_s3")
    monkeypatch.setenv("SYNC_DATASYNC_S3_ROLE_ARN", ROLE)
    monkeypatch.setenv("SYNC_DATASYNC_SECURITY_GROUP_ARNS", ",".join([GROUP] * 6))
    with pytest.raises(InvalidSetting, match="SYNC_DATASYNC_SECURITY_GROUP_ARNS"):
        client.invoke("sync_efs_to_s3")
    monkeypatch.setenv("SYNC_ENGINE", "rsync")
    with pytest.raises(InvalidSetting, match="SYNC_ENGINE"):
        client.invoke("sync_efs_to_s3")


def test_a_bad_execution_arn_is_a_validation_error(client: Client, datasync_env: Path) -> None:
    for bad in ("arn:aws:datasync:us-east-1:123456789012:task/task-1", "x", TASK + "/../x"):
        with pytest.raises(ValidationFailed) as caught:
            client.invoke("sync_status", task_execution_arn=bad)
        assert caught.value.details[0]["loc"] == "payload.task_execution_arn"


# -- the in-function engine's status ----------------------------------------------------------
def test_status_of_the_in_function_engine(client: Client, tree: Path) -> None:
    before = client.invoke("sync_status")
    assert before == {"engine": "function", "running": False, "complete": True,
                      "last_complete": None, "manifest_bytes": 0}
    assert client.invoke("sync_efs_to_s3")["complete"] is True
    after = client.invoke("sync_status")
    assert after["last_complete"] is not None and after["manifest_bytes"] > 0
    held = locks.acquire(f"sync:{BUCKET}/efs/", 60)
    assert client.invoke("sync_status")["running"] is True
    locks.release(held)


def _keys() -> list[str]:
    listed = aws.client("s3").list_objects_v2(Bucket=BUCKET).get("Contents", [])
    return [item["Key"] for item in listed]


def _body(key: str) -> bytes:
    return aws.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read()

