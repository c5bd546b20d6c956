"""The on-demand database: HTTP start/status/activity, operator stop and the auto-stop schedule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from opsfn.errors import Conflict, UpstreamError, ValidationFailed
from opsfn.routes.database import store
from opsfn.services import aws, locks
from opsfn.testing import DEFAULT_CALLERS, Client
from tests.operator_fixtures import ACCOUNT, REGION, audit_items
from tests.stubs import stubbed

SHAPES = ["http_v1", "http_v2", "function_url", "alb"]
KEY = "state#database#instance#dash-db"


def set_status(status: str, instance: str = "dash-db") -> None:
    """moto finishes transitions at once; tests put the database in between states directly."""
    from moto.rds.models import rds_backends

    rds_backends[ACCOUNT][REGION].databases[instance].status = status


def status_of(instance: str = "dash-db") -> str:
    return str(aws.client("rds").describe_db_instances(DBInstanceIdentifier=instance)[
        "DBInstances"][0]["DBInstanceStatus"])


def ago(**delta: float) -> datetime:
    return datetime.now(UTC) - timedelta(**delta)


# -- start ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", SHAPES)
def test_start_a_stopped_database(client: Client, db: str, shape: str) -> None:
    set_status("stopped")
    reply = client.post("/database/start", shape=shape)
    if shape == "alb":  # an ALB passes no caller: the operator route refuses it, doing nothing
        assert reply.status == 401 and audit_items("database_start") == []
        return
    assert reply.status == 202
    body = reply.json()
    assert (body["status"], body["progress"], body["database"]) == ("starting", 50, "dash-db")
    assert len(body["restartId"]) == 32
    state = store.get_state(KEY)
    assert state.restart_id == body["restartId"]
    assert state.started_at and state.last_activity and state.last_activity >= ago(minutes=1)
    assert [r["result"]["restartId"] for r in audit_items("database_start")] == [body["restartId"]]
    assert audit_items("database_start")[0]["caller"] == DEFAULT_CALLERS["iam"]  # who asked


def test_start_when_available_or_starting_reports_status(client: Client, db: str) -> None:
    reply = client.post("/database/start")
    assert (reply.status, reply.json()["status"], reply.json()["progress"]) == (200, "available", 100)
    set_status("starting")
    reply = client.post("/database/start")
    assert (reply.status, reply.json()["status"], reply.json()["ready"]) == (200, "starting", False)
    assert audit_items("database_start") == []


def test_second_start_while_the_first_holds_the_lock_is_409(client: Client, db: str) -> None:
    set_status("stopped")
    assert client.post("/database/start").status == 202
    set_status("stopped")  # RDS may still say "stopped" right after StartDBInstance
    reply = client.post("/database/start")
    assert reply.status == 409 and reply.json()["error"] == "conflict"
    assert len(audit_items("database_start")) == 1


def test_start_while_stopping_is_409(client: Client, db: str) -> None:
    set_status("stopping")
    reply = client.post("/database/start")
    assert reply.status == 409
    assert "stopping" in reply.json()["message"]


def test_throttled_start_is_502_and_releases_the_lock(client: Client, db: str) -> None:
    set_status("stopped")
    with stubbed("rds") as stub:
        stub.add_response("describe_db_instances", {"DBInstances": [{
            "DBInstanceIdentifier": "dash-db", "DBInstanceStatus": "stopped"}]},
            {"DBInstanceIdentifier": "dash-db"})
        stub.add_client_error("start_db_instance", service_error_code="Throttling",
                              http_status_code=400)
        reply = client.post("/database/start")
    assert reply.status == 502
    assert reply.json() == {"error": "upstream_error", "message": "AWS StartDBInstance failed: Throttling"}
    assert client.post("/database/start").status == 202  # the lock did not stay behind


def test_start_of_aurora_cluster(client: Client, tables: None, monkeypatch: pytest.MonkeyPatch) -> None:
    rds = aws.client("rds")
    rds.create_db_cluster(DBClusterIdentifier="dash", Engine="aurora-postgresql",
                          MasterUsername="admin", MasterUserPassword="password123")
    rds.stop_db_cluster(DBClusterIdentifier="dash")
    monkeypatch.setenv("DB_CLUSTER_ID", "dash")
    reply = client.post("/database/start")
    assert reply.status == 202 and reply.json()["kind"] == "cluster"
    status = client.get("/database/status").json()
    assert (status["status"], status["progress"]) == ("available", 100)
    assert client.invoke("stop_database")["stopped"] is True
    assert rds.describe_db_clusters(DBClusterIdentifier="dash")["DBClusters"][0]["Status"] == "stopped"


def test_database_settings_are_checked(client: Client, db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_CLUSTER_ID", "dash")
    reply = client.get("/database/status")
    assert reply.status == 500 and reply.json()["error"] == "invalid_setting"
    monkeypatch.delenv("DB_CLUSTER_ID")
    monkeypatch.delenv("DB_INSTANCE_ID")
    reply = client.post("/database/start")
    assert reply.status == 500 and reply.json() == {
        "error": "missing_setting", "message": "setting DB_INSTANCE_ID is not configured"}


# -- status --------------------------------------------------------------------------------------
@pytest.mark.parametrize(("status", "progress"), [
    ("stopped", 0), ("stopping", 25), ("starting", 50), ("modifying", 75), ("available", 100),
    ("inaccessible-encryption-credentials", 0)])
def test_status_progress(client: Client, db: str, status: str, progress: int) -> None:
    set_status(status)
    body = client.get("/database/status", shape="http_v1").json()
    assert (body["status"], body["progress"]) == (status, progress)
    assert body["idleLimitMinutes"] == 60 and body["maxUptimeMinutes"] == 240


# -- activity ------------------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", ["Z", "+00:00", "+02:00"])
def test_activity_accepts_aware_times(client: Client, db: str, suffix: str) -> None:
    moment = ago(minutes=3).replace(microsecond=0, tzinfo=None)
    local = moment + timedelta(hours=2) if suffix == "+02:00" else moment
    reply = client.post("/database/activity", json_body={"at": local.isoformat() + suffix})
    assert reply.status == 200 and reply.json()["recorded"] is True
    assert reply.json()["lastActivity"] == moment.isoformat() + "Z"
    assert client.get("/database/status").json()["lastActivity"] == moment.isoformat() + "Z"


def test_activity_only_moves_forward_and_defaults_to_now(client: Client, db: str) -> None:
    reply = client.post("/database/activity", body="")
    assert reply.status == 200 and reply.json()["recorded"] is True
    latest = reply.json()["lastActivity"]
    older = client.invoke("record_activity", at=ago(hours=1).isoformat())
    assert older == {"database": "dash-db", "recorded": False, "lastActivity": latest}
    again = client.invoke("record_activity", at=latest)  # duplicated report
    assert again["recorded"] is False


@pytest.mark.parametrize(("body", "loc"), [
    ({"at": "yesterday"}, "body.at"),
    ({"at": "2026-13-01T10:00:00"}, "body.at"),
    ({"at": (datetime.now(UTC) + timedelta(days=1)).isoformat()}, "body.at"),
    ({"when": "2026-01-01T10:00:00Z"}, "body.when"),
    ("{not json", "body"),
])
def test_activity_validation(client: Client, db: str, body: Any, loc: str) -> None:
    reply = client.post("/database/activity", json_body=body) if isinstance(body, dict) else \
        client.post("/database/activity", body=body)
    assert reply.status == 400
    assert reply.json()["details"][0]["loc"] == loc
    assert store.get_state(KEY).last_activity is None


def test_record_activity_action_validation(client: Client, db: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        client.invoke("record_activity", at="10 minutes ago")
    assert caught.value.details[0]["loc"] == "payload.at"


def test_a_time_without_offset_is_utc(client: Client, db: str) -> None:
    """What the dashboard writes (``datetime.utcnow().isoformat()``) is taken as UTC."""
    naive = (datetime.now(UTC) - timedelta(minutes=7)).replace(tzinfo=None, microsecond=0)
    reply = client.invoke("record_activity", at=naive.isoformat(), source="dashboard")
    assert reply["recorded"] is True
    assert reply["lastActivity"] == naive.isoformat() + "Z"
    http = client.post("/database/activity", json_body={"at": (naive + timedelta(minutes=1)).isoformat()})
    assert http.json()["lastActivity"] == (naive + timedelta(minutes=1)).isoformat() + "Z"
    from opsfn.routes.database.routes import ActivityInput

    schema = ActivityInput.model_json_schema()["properties"]["at"]
    assert "without an offset is taken as UTC" in schema["description"]


# -- stop ----------------------------------------------------------------------------------------
def test_stop_database_action(client: Client, db: str) -> None:
    first = client.invoke("stop_database", reason="maintenance window")
    assert first["stopped"] is True and status_of() == "stopped"
    again = client.invoke("stop_database")
    assert again["stopped"] is False and again["message"] == "the database is already stopped"
    records = audit_items("database_stop")
    assert len(records) == 1 and records[0]["result"] == {"reason": "operator",
                                                          "note": "maintenance window"}
    set_status("starting")
    with pytest.raises(Conflict, match="the database is starting"):
        client.invoke("stop_database")
    with pytest.raises(ValidationFailed):
        client.invoke("stop_database", force=True)


def test_stop_clears_the_start_lock(client: Client, db: str) -> None:
    set_status("stopped")
    assert client.post("/database/start").status == 202
    set_status("available")
    client.invoke("stop_database")
    assert locks.holder_expiry("database-start#instance#dash-db") is None
    assert client.post("/database/start").status == 202


# -- auto-stop -----------------------------------------------------------------------------------
def test_auto_stop_when_idle(client: Client, db: str) -> None:
    store.mark_started(KEY, ago(hours=2), "r1")
    store.record_activity(KEY, ago(minutes=61))
    result = client.schedule("database-auto-stop")["result"]
    assert result["stopped"] is True and result["reason"] == "idle"
    assert 60 < result["idleMinutes"] < 62
    assert status_of() == "stopped"
    assert audit_items("database_stop")[0]["result"]["reason"] == "idle"
    assert store.get_state(KEY).started_at is None


def test_no_stop_while_used(client: Client, db: str) -> None:
    store.mark_started(KEY, ago(hours=2), "r1")
    store.record_activity(KEY, ago(minutes=10))
    result = client.schedule("database-auto-stop", scheduler=True)["result"]
    assert result["stopped"] is False and status_of() == "available"


def test_auto_stop_after_max_uptime_even_when_used(client: Client, db: str) -> None:
    store.mark_started(KEY, ago(hours=4, minutes=5), "r1")
    store.record_activity(KEY, ago(minutes=1))
    result = client.schedule("database-auto-stop")["result"]
    assert result["stopped"] is True and result["reason"] == "max_uptime"


def test_no_activity_counts_from_the_start(client: Client, db: str) -> None:
    store.mark_started(KEY, ago(minutes=30), "r1")
    aws.client("dynamodb").update_item(TableName="ops-locks", Key={"lockId": {"S": KEY}},
                                       UpdateExpression="REMOVE lastActivity")
    assert client.schedule("database-auto-stop")["result"]["stopped"] is False
    store.mark_started(KEY, ago(minutes=70), "r1")
    aws.client("dynamodb").update_item(TableName="ops-locks", Key={"lockId": {"S": KEY}},
                                       UpdateExpression="REMOVE lastActivity")
    assert client.schedule("database-auto-stop")["result"]["reason"] == "idle"


def test_restarted_by_rds_after_seven_days_is_stopped_again(client: Client, db: str) -> None:
    # Nothing recorded (RDS started it itself): first seen now, then idle from there.
    first = client.schedule("database-auto-stop")["result"]
    assert first["stopped"] is False and first["idleMinutes"] == 0.0
    assert store.get_state(KEY).observed_at is not None
    observed = ago(minutes=61).timestamp()
    aws.client("dynamodb").update_item(
        TableName="ops-locks", Key={"lockId": {"S": KEY}}, UpdateExpression="SET observedAt = :t",
        ExpressionAttributeValues={":t": {"N": str(observed)}})
    assert client.schedule("database-auto-stop")["result"]["reason"] == "idle"
    assert status_of() == "stopped"


@pytest.mark.parametrize("status", ["starting", "modifying", "stopped", "backing-up"])
def test_auto_stop_only_when_available(client: Client, db: str, status: str) -> None:
    store.mark_started(KEY, ago(hours=9), "r1")
    set_status(status)
    result = client.schedule("database-auto-stop")["result"]
    assert result["stopped"] is False and status_of() == status
    assert audit_items("database_stop") == []


def test_duplicated_schedule_delivery_stops_once(client: Client, db: str) -> None:
    store.mark_started(KEY, ago(hours=2), "r1")
    store.record_activity(KEY, ago(hours=2))
    client.schedule("database-auto-stop")
    second = client.schedule("database-auto-stop")["result"]
    assert second["stopped"] is False
    assert len(audit_items("database_stop")) == 1


def test_concurrent_stoppers_do_not_both_stop(client: Client, db: str) -> None:
    store.mark_started(KEY, ago(hours=2), "r1")
    store.record_activity(KEY, ago(hours=2))
    held = locks.acquire("database-stop#instance#dash-db", 60)
    result = client.schedule("database-auto-stop")["result"]
    assert result["stopped"] is False and result["message"] == "a stop is already in progress"
    assert status_of() == "available"
    locks.release(held)


def test_throttled_describe_fails_the_schedule(client: Client, db: str) -> None:
    with stubbed("rds") as stub:
        stub.add_client_error("describe_db_instances", service_error_code="Throttling",
                              http_status_code=400)
        with pytest.raises(UpstreamError, match="DescribeDBInstances failed: Throttling"):
            client.schedule("database-auto-stop")


def test_external_stop_forgets_the_old_start(client: Client, db: str) -> None:
    store.mark_started(KEY, ago(hours=1), "r1")
    aws.client("rds").stop_db_instance(DBInstanceIdentifier="dash-db")  # someone else stopped it
    assert client.schedule("database-auto-stop")["result"]["stopped"] is False
    state = store.get_state(KEY)
    assert state.started_at is None and state.stopped_at is not None
    aws.client("rds").start_db_instance(DBInstanceIdentifier="dash-db")  # e.g. RDS after 7 days
    result = client.schedule("database-auto-stop")["result"]
    assert result["stopped"] is False and result["upMinutes"] == 0.0  # counted from now
