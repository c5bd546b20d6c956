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
from tests.stubs import stubbed

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

    monkeypatch.setenv("RDS_EXPORT_CLUSTER_ID", "emr")
    monkeypatch.setenv("RDS_EXPORT_BUCKET", "exports")
    monkeypatch.setenv("RDS_EXPORT_ROLE_ARN", ROLE)
    monkeypatch.setenv("RDS_EXPORT_KMS_KEY_ID", "alias/exports")
    with stubbed("rds") as stubber:
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


# -- live DB cluster (SourceArn = the cluster ARN, as the OpenEMR stack calls it) ----------------
# moto exports snapshots only (a cluster ARN makes its StartExportTask fail), so the cluster's
# export calls are answered by botocore's Stubber; moto still answers DescribeDBClusters.
CLUSTER_ARN = "arn:aws:rds:us-east-1:123456789012:cluster:openemr-db"


def _scheduled(day: int) -> dict[str, Any]:
    from opsfn.testing import schedule_event

    event = schedule_event("export-rds-snapshot", scheduler=True)
    event["time"] = f"2026-01-{day:02d}T04:00:00Z"
    return event


def _cluster_task(ident: str, status: str, day: int, percent: int = 0) -> dict[str, Any]:
    return {"ExportTaskIdentifier": ident, "SourceArn": CLUSTER_ARN, "Status": status,
            "SourceType": "CLUSTER", "PercentProgress": percent, "S3Bucket": "exports",
            "TaskStartTime": datetime(2026, 1, day, 4, 1, tzinfo=UTC)}


def _start_params(ident: str) -> dict[str, Any]:
    return {"ExportTaskIdentifier": ident, "SourceArn": CLUSTER_ARN, "S3BucketName": "exports",
            "IamRoleArn": ROLE, "KmsKeyId": "alias/exports", "S3Prefix": "rds-exports"}


@pytest.fixture
def live_cluster(stubbed_rds: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The stack's setup: the cluster ARN (the template passes it) and the cluster source."""
    monkeypatch.setenv("RDS_EXPORT_SOURCE", "cluster")
    monkeypatch.setenv("RDS_EXPORT_CLUSTER_ARN", CLUSTER_ARN)
    return stubbed_rds


def test_the_schedule_exports_the_live_cluster_once_per_day(client: Client,
                                                           live_cluster: Any) -> None:
    from opsfn.routes.exports.rds_export import cluster_export_identifier

    day9 = cluster_export_identifier(CLUSTER_ARN, "20260109", 1)
    live_cluster.add_response("describe_export_tasks", {"ExportTasks": []},
                              {"SourceArn": CLUSTER_ARN})
    live_cluster.add_response("start_export_task", _cluster_task(day9, "STARTING", 9),
                              _start_params(day9))
    first = client.handle(_scheduled(9))["result"]
    assert first["export_task_identifier"] == day9 and first["reused"] is False
    assert first["source_arn"] == CLUSTER_ARN and first["source_type"] == "CLUSTER"
    assert VALID_ID.match(day9) and "20260109" in day9

    # The schedule's retry (same day) finds it running: nothing is started.
    live_cluster.add_response("describe_export_tasks", {
        "ExportTasks": [_cluster_task(day9, "IN_PROGRESS", 9, 30)]}, {"SourceArn": CLUSTER_ARN})
    retry = client.handle(_scheduled(9))["result"]
    assert retry["reused"] is True and retry["percent_progress"] == 30

    # The next day while day 9's clone still exports: that export, not a second clone.
    live_cluster.add_response("describe_export_tasks", {
        "ExportTasks": [_cluster_task(day9, "IN_PROGRESS", 9, 80)]}, {"SourceArn": CLUSTER_ARN})
    assert client.handle(_scheduled(10))["result"]["export_task_identifier"] == day9

    # Once it is complete, day 10 has an export of its own; day 9 stays done.
    day10 = cluster_export_identifier(CLUSTER_ARN, "20260110", 1)
    live_cluster.add_response("describe_export_tasks", {
        "ExportTasks": [_cluster_task(day9, "COMPLETE", 9, 100)]}, {"SourceArn": CLUSTER_ARN})
    live_cluster.add_response("start_export_task", _cluster_task(day10, "STARTING", 10),
                              _start_params(day10))
    assert client.handle(_scheduled(10))["result"]["export_task_identifier"] == day10
    live_cluster.add_response("describe_export_tasks", {
        "ExportTasks": [_cluster_task(day9, "COMPLETE", 9, 100),
                        _cluster_task(day10, "COMPLETE", 10, 100)]}, {"SourceArn": CLUSTER_ARN})
    again = client.handle(_scheduled(9))["result"]
    assert again["export_task_identifier"] == day9 and again["reused"] is True


def test_a_failed_cluster_export_is_retried_under_the_next_attempt(client: Client,
                                                                  live_cluster: Any) -> None:
    from opsfn.routes.exports.rds_export import cluster_export_identifier

    failed = cluster_export_identifier(CLUSTER_ARN, "20260109", 1)
    other_day = cluster_export_identifier(CLUSTER_ARN, "20260108", 1)
    second = cluster_export_identifier(CLUSTER_ARN, "20260109", 2)
    live_cluster.add_response("describe_export_tasks", {"ExportTasks": [
        _cluster_task(other_day, "COMPLETE", 8, 100),
        {**_cluster_task(failed, "FAILED", 9), "FailureCause": "clone failed"}]},
        {"SourceArn": CLUSTER_ARN})
    live_cluster.add_response("start_export_task", _cluster_task(second, "STARTING", 9),
                              _start_params(second))
    reply = client.handle(_scheduled(9))["result"]
    assert reply["export_task_identifier"] == second and reply["reused"] is False


def test_a_duplicate_racing_to_the_cluster_identifier_returns_the_running_export(
        client: Client, live_cluster: Any) -> None:
    from opsfn.routes.exports.rds_export import cluster_export_identifier

    ident = cluster_export_identifier(CLUSTER_ARN, "adhoc1", 1)
    live_cluster.add_response("describe_export_tasks", {"ExportTasks": []},
                              {"SourceArn": CLUSTER_ARN})
    live_cluster.add_client_error("start_export_task", "ExportTaskAlreadyExists",
                                  http_status_code=400, expected_params=_start_params(ident))
    live_cluster.add_response("describe_export_tasks", {
        "ExportTasks": [_cluster_task(ident, "STARTING", 9)]}, {"ExportTaskIdentifier": ident})
    reply = client.invoke("export_rds_snapshot", cluster_arn=CLUSTER_ARN, run_id="adhoc1")
    assert reply["reused"] is True and reply["export_task_identifier"] == ident


def test_cluster_export_status(client: Client, live_cluster: Any) -> None:
    live_cluster.add_response("describe_export_tasks", {"ExportTasks": [
        _cluster_task("opsfn-openemr-db-20260108-aaaaaaaaaa-1", "COMPLETE", 8, 100),
        _cluster_task("opsfn-openemr-db-20260109-bbbbbbbbbb-1", "IN_PROGRESS", 9, 45)]},
        {"SourceArn": CLUSTER_ARN})
    status = client.invoke("export_status", cluster_arn=CLUSTER_ARN)
    assert status["export_task_identifier"].endswith("-20260109-bbbbbbbbbb-1")
    assert (status["status"], status["percent_progress"]) == ("IN_PROGRESS", 45)
    live_cluster.add_response("describe_export_tasks", {"ExportTasks": []},
                              {"SourceArn": CLUSTER_ARN})
    with pytest.raises(NotFound, match="no export of that cluster"):
        client.invoke("export_status", cluster_arn=CLUSTER_ARN)


def test_the_cluster_is_looked_up_by_identifier_with_moto(
        client: Client, rds_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Without RDS_EXPORT_CLUSTER_ARN the ARN comes from DescribeDBClusters (moto); only the
    StartExportTask that moto cannot do for a cluster is answered here, and its request checked."""
    started: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        started.append(dict(params))

    def answer(**_: Any) -> Any:
        from botocore.awsrequest import AWSResponse

        body = {"ExportTaskIdentifier": started[-1]["ExportTaskIdentifier"],
                "SourceArn": started[-1]["SourceArn"], "Status": "STARTING",
                "SourceType": "CLUSTER"}
        return AWSResponse("https://rds.us-east-1.amazonaws.com", 200, {}, None), body

    monkeypatch.setenv("RDS_EXPORT_SOURCE", "cluster")
    cluster_arn = aws.client("rds").describe_db_clusters(
        DBClusterIdentifier="emr")["DBClusters"][0]["DBClusterArn"]
    aws.client("rds").meta.events.register("before-parameter-build.rds.StartExportTask", record)
    aws.client("rds").meta.events.register("before-call.rds.StartExportTask", answer)
    reply = client.invoke("export_rds_snapshot")
    assert [p["SourceArn"] for p in started] == [cluster_arn]
    assert started[0]["KmsKeyId"] == rds_env["kms"] and started[0]["S3BucketName"] == "exports"
    assert reply["source_arn"] == cluster_arn and reply["reused"] is False
    monkeypatch.setenv("RDS_EXPORT_CLUSTER_ID", "missing")
    with pytest.raises(NotFound, match="DB cluster does not exist"):
        client.invoke("export_rds_snapshot")
    # The snapshot mode is unchanged beside it.
    aws.client("rds").meta.events.unregister("before-call.rds.StartExportTask", answer)
    snapshot = client.invoke("export_rds_snapshot", source="snapshot", db_cluster_identifier="emr")
    assert snapshot["source_arn"] == rds_env["newest"] and len(started) == 2


def test_cluster_input_errors_are_clear(client: Client, live_cluster: Any,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationFailed) as caught:
        client.invoke("export_rds_snapshot", cluster_arn="arn:aws:rds:us-east-1:123456789012:db:x")
    assert caught.value.details[0]["loc"] == "payload.cluster_arn"
    with pytest.raises(ValidationFailed) as both:
        client.invoke("export_rds_snapshot", cluster_arn=CLUSTER_ARN,
                      snapshot_arn=_snap("a", 1)["DBClusterSnapshotArn"])
    assert both.value.details[0]["loc"] == "payload.cluster_arn"
    with pytest.raises(ValidationFailed) as run_id:
        client.invoke("export_rds_snapshot", cluster_arn=CLUSTER_ARN, run_id="not-allowed!")
    assert run_id.value.details[0]["loc"] == "payload.run_id"
    monkeypatch.delenv("RDS_EXPORT_CLUSTER_ARN")
    monkeypatch.delenv("RDS_EXPORT_CLUSTER_ID")
    with pytest.raises(ValidationFailed, match="no cluster to export"):
        client.invoke("export_rds_snapshot")
    monkeypatch.setenv("RDS_EXPORT_CLUSTER_ARN", "arn:aws:rds:us-east-1:123456789012:db:x")
    with pytest.raises(ValidationFailed) as setting:
        client.invoke("export_rds_snapshot")
    assert setting.value.details[0]["loc"] == "settings.RDS_EXPORT_CLUSTER_ARN"


@given(st.sampled_from(["openemr-db", "a", "x" * 63, "Cluster-1"]),
       st.one_of(st.dates().map(lambda d: d.strftime("%Y%m%d")),
                 st.from_regex(r"^[A-Za-z0-9]{1,16}$", fullmatch=True)),
       st.integers(min_value=1, max_value=10**6))
def test_cluster_identifiers_are_always_valid(name: str, window: str, attempt: int) -> None:
    from opsfn.routes.exports.rds_export import cluster_export_identifier, cluster_window_marker

    arn = f"arn:aws:rds:us-east-1:123456789012:cluster:{name}"
    ident = cluster_export_identifier(arn, window, attempt)
    assert VALID_ID.match(ident), ident
    assert cluster_window_marker(arn, window) in ident
    assert ident != cluster_export_identifier(arn, window, attempt + 1)
    assert cluster_window_marker(arn, window) != cluster_window_marker(arn, window + "0")


def test_schedule_time_and_window() -> None:
    from opsfn.routes.exports.rds_export import schedule_time, window_of

    fired = schedule_time("2026-01-09T23:59:59Z")
    assert fired == datetime(2026, 1, 9, 23, 59, 59, tzinfo=UTC)
    assert window_of(fired) == "20260109" and window_of(fired, "rerun2") == "rerun2"
    assert schedule_time(None) is None and schedule_time("yesterday") is None
