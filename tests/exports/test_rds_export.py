"""RDS snapshot export: moto end to end, Stubber where moto cannot show a case."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opsfn.errors import NotFound, UpstreamError, ValidationFailed
from opsfn.routes.exports.rds_export import export_identifier, newest_available, slug
from opsfn.services import aws
from opsfn.testing import Client

ROLE = "arn:aws:iam::123456789012:role/rds-export"
VALID_ID = re.compile(r"^[A-Za-z](?!.*--)[A-Za-z0-9-]{0,59}(?<!-)$")


@pytest.fixture
def rds_env(moto_aws: None, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    rds = aws.client("rds")
    rds.create_db_cluster(DBClusterIdentifier="emr", Engine="aurora-mysql",
                          MasterUsername="admin", MasterUserPassword="password123")
    rds.create_db_cluster_snapshot(DBClusterIdentifier="emr", DBClusterSnapshotIdentifier="manual-1")
    newest = rds.create_db_cluster_snapshot(DBClusterIdentifier="emr",
                                            DBClusterSnapshotIdentifier="manual-2")
    aws.client("s3").create_bucket(Bucket="exports")
    key = aws.client("kms").create_key()["KeyMetadata"]["Arn"]
    monkeypatch.setenv("RDS_EXPORT_CLUSTER_ID", "emr")
    monkeypatch.setenv("RDS_EXPORT_BUCKET", "exports")
    monkeypatch.setenv("RDS_EXPORT_ROLE_ARN", ROLE)
    monkeypatch.setenv("RDS_EXPORT_KMS_KEY_ID", key)
    return {"newest": newest["DBClusterSnapshot"]["DBClusterSnapshotArn"], "kms": key}


def test_exports_the_newest_cluster_snapshot_once(client: Client, rds_env: dict[str, str]) -> None:
    first = client.invoke("export_rds_snapshot")
    assert first["source_arn"] == rds_env["newest"]
    assert first["reused"] is False and first["status"] == "COMPLETE"
    assert VALID_ID.match(first["export_task_identifier"])
    assert first["s3_bucket"] == "exports" and first["s3_prefix"] == "rds-exports"
    json.dumps(first)
    # Every later run (schedule or action, duplicated or not) returns the same export.
    again = client.invoke("export_rds_snapshot")
    assert again["reused"] is True
    assert again["export_task_identifier"] == first["export_task_identifier"]
    scheduled = client.schedule("export-rds-snapshot")["result"]
    assert scheduled["export_task_identifier"] == first["export_task_identifier"]
    assert len(aws.client("rds").describe_export_tasks()["ExportTasks"]) == 1


def test_given_snapshot_and_status(client: Client, rds_env: dict[str, str]) -> None:
    arn = rds_env["newest"].replace("manual-2", "manual-1")
    started = client.invoke("export_rds_snapshot", snapshot_arn=arn, s3_prefix="adhoc/",
                            export_only=["emr.patients"])
    # below RDS_EXPORT_PREFIX: the export role may write nowhere else in the archive bucket
    assert started["source_arn"] == arn and started["s3_prefix"] == "rds-exports/adhoc"
    status = client.invoke("export_status", export_task_identifier=started["export_task_identifier"])
    assert status["status"] == "COMPLETE" and status["percent_progress"] == 0
    by_snapshot = client.invoke("export_status", snapshot_arn=arn)
    assert by_snapshot["export_task_identifier"] == started["export_task_identifier"]
    json.dumps(status)


def test_instance_snapshots(client: Client, moto_aws: None, monkeypatch: pytest.MonkeyPatch,
                            rds_env: dict[str, str]) -> None:
    rds = aws.client("rds")
    rds.create_db_instance(DBInstanceIdentifier="db1", DBInstanceClass="db.t3.micro",
                           Engine="postgres", MasterUsername="admin", MasterUserPassword="password123",
                           AllocatedStorage=20)
    snap = rds.create_db_snapshot(DBInstanceIdentifier="db1", DBSnapshotIdentifier="db1-snap")
    monkeypatch.delenv("RDS_EXPORT_CLUSTER_ID")
    monkeypatch.setenv("RDS_EXPORT_INSTANCE_ID", "db1")
    reply = client.invoke("export_rds_snapshot")
    assert reply["source_arn"] == snap["DBSnapshot"]["DBSnapshotArn"]
    assert reply["source_type"] == "SNAPSHOT"


def test_errors_are_clear(client: Client, rds_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
                          ) -> None:
    with pytest.raises(ValidationFailed) as caught:
        client.invoke("export_rds_snapshot", snapshot_arn="arn:aws:s3:::bucket")
    assert caught.value.details[0]["loc"] == "payload.snapshot_arn"
    with pytest.raises(NotFound):
        client.invoke("export_status", export_task_identifier="nope")
    with pytest.raises(ValidationFailed):
        client.invoke("export_status")
    monkeypatch.setenv("RDS_EXPORT_CLUSTER_ID", "other")
    with pytest.raises(NotFound, match="no available snapshot"):
        client.invoke("export_rds_snapshot")
    monkeypatch.delenv("RDS_EXPORT_ROLE_ARN")
    with pytest.raises(Exception, match="RDS_EXPORT_ROLE_ARN"):
        client.invoke("export_rds_snapshot")


# -- Stubber: pagination over automated + manual snapshots, retries after failure, throttling ---
def _snap(name: str, day: int, status: str = "available", kind: str = "manual") -> dict[str, Any]:
    return {"DBClusterSnapshotIdentifier": name, "DBClusterIdentifier": "emr",
            "DBClusterSnapshotArn": f"arn:aws:rds:us-east-1:123456789012:cluster-snapshot:{name}",
            "SnapshotCreateTime": datetime(2026, 1, day, tzinfo=UTC), "Status": status,
            "SnapshotType": kind}


@pytest.fixture
def stubbed_rds(monkeypatch: pytest.MonkeyPatch) -> Any:
    from botocore.stub import Stubber

    monkeypatch.setenv("RDS_EXPORT_CLUSTER_ID", "emr")
    monkeypatch.setenv("RDS_EXPORT_BUCKET", "exports")
    monkeypatch.setenv("RDS_EXPORT_ROLE_ARN", ROLE)
    monkeypatch.setenv("RDS_EXPORT_KMS_KEY_ID", "alias/exports")
    with Stubber(aws.client("rds")) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def test_newest_automated_snapshot_on_a_later_page_after_a_failed_export(
        client: Client, stubbed_rds: Any) -> None:
    newest = _snap("rds:emr-2026-01-09-03-00", 9, kind="automated")
    stubbed_rds.add_response("describe_db_cluster_snapshots", {
        "DBClusterSnapshots": [_snap("manual-a", 5), _snap("manual-b", 10, status="creating")],
        "Marker": "page-2"}, {"DBClusterIdentifier": "emr"})
    stubbed_rds.add_response("describe_db_cluster_snapshots", {
        "DBClusterSnapshots": [newest, _snap("rds:emr-2026-01-01-03-00", 1, kind="automated")]},
        {"DBClusterIdentifier": "emr", "Marker": "page-2"})
    arn = newest["DBClusterSnapshotArn"]
    stubbed_rds.add_response("describe_export_tasks", {"ExportTasks": [
        {"ExportTaskIdentifier": export_identifier(arn, 1), "SourceArn": arn, "Status": "FAILED"}]},
        {"SourceArn": arn})
    expected_id = export_identifier(arn, 2)
    stubbed_rds.add_response("start_export_task", {
        "ExportTaskIdentifier": expected_id, "SourceArn": arn, "Status": "STARTING",
        "PercentProgress": 0, "TaskStartTime": datetime(2026, 1, 9, 4, tzinfo=UTC),
        "S3Bucket": "exports"}, {
        "ExportTaskIdentifier": expected_id, "SourceArn": arn, "S3BucketName": "exports",
        "IamRoleArn": ROLE, "KmsKeyId": "alias/exports", "S3Prefix": "rds-exports"})
    reply = client.invoke("export_rds_snapshot")
    assert reply["export_task_identifier"] == expected_id and reply["status"] == "STARTING"
    assert reply["task_start_time"] == "2026-01-09T04:00:00+00:00"


def test_a_duplicate_racing_to_the_same_identifier_returns_the_running_export(
        client: Client, stubbed_rds: Any) -> None:
    arn = _snap("manual-a", 5)["DBClusterSnapshotArn"]
    ident = export_identifier(arn, 1)
    stubbed_rds.add_response("describe_export_tasks", {"ExportTasks": []}, {"SourceArn": arn})
    stubbed_rds.add_client_error("start_export_task", "ExportTaskAlreadyExists", http_status_code=400)
    stubbed_rds.add_response("describe_export_tasks", {"ExportTasks": [
        {"ExportTaskIdentifier": ident, "SourceArn": arn, "Status": "IN_PROGRESS",
         "PercentProgress": 40}]}, {"ExportTaskIdentifier": ident})
    reply = client.invoke("export_rds_snapshot", snapshot_arn=arn)
    assert reply["reused"] is True and reply["percent_progress"] == 40


@pytest.mark.parametrize(("code", "status"), [("ThrottlingException", 400),
                                              ("AccessDeniedException", 403)])
def test_failing_aws_calls_are_clear_errors(client: Client, stubbed_rds: Any, code: str,
                                            status: int) -> None:
    stubbed_rds.add_client_error("describe_db_cluster_snapshots", code, http_status_code=status)
    with pytest.raises(UpstreamError) as caught:
        client.invoke("export_rds_snapshot")
    assert caught.value.message == f"AWS DescribeDBClusterSnapshots failed: {code}"


# -- pure helpers --------------------------------------------------------------------------------
@given(st.text(min_size=0, max_size=300), st.integers(min_value=1, max_value=10**6))
def test_identifiers_are_always_valid(name: str, attempt: int) -> None:
    ident = export_identifier(f"arn:aws:rds:us-east-1:123456789012:snapshot:{name}", attempt)
    assert VALID_ID.match(ident), ident
    assert len(ident) <= 60


def test_identifiers_differ_per_snapshot_and_attempt() -> None:
    a = "arn:aws:rds:us-east-1:123456789012:cluster-snapshot:" + "x" * 80
    b = a + "y"
    assert len({export_identifier(a, 1), export_identifier(a, 2), export_identifier(b, 1)}) == 3
    assert slug("--a__b--") == "a-b"


def test_newest_available_ignores_unfinished_snapshots() -> None:
    snaps = [_snap("a", 2), _snap("b", 3, status="creating"), _snap("c", 1)]
    assert newest_available(snaps, "DBClusterSnapshotArn").endswith(":a")
    assert newest_available([_snap("b", 3, status="creating")], "DBClusterSnapshotArn") is None


def test_export_prefix_stays_below_the_configured_one() -> None:
    from opsfn.routes.exports.rds_export import export_prefix

    assert export_prefix("rds-exports", None) == "rds-exports"
    assert export_prefix("rds-exports/", "/adhoc/2026/") == "rds-exports/adhoc/2026"
    assert export_prefix("", "adhoc") == "adhoc"
    assert export_prefix("", None) == ""
