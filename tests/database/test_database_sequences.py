"""The dashboard's database: direct-invoke start/status, the lock sequences, and activity signals.

The dashboard's backend calls ``lambda_client.invoke(FunctionName=..., InvocationType=
"RequestResponse", Payload=json.dumps(...))`` and reads ``json.loads(response["Payload"].read())``;
its button calls the HTTP API; its scheduler fires ``database-auto-stop``. These tests drive the
same sequences through a real boto3 Lambda client (``lambda_service``), the HTTP shapes and the
schedule, against moto's RDS, DynamoDB and CloudWatch.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from opsfn.errors import Conflict, InvalidContent, InvalidSetting, UnsupportedEvent
from opsfn.handler import lambda_handler
from opsfn.routes.database import store
from opsfn.services import aws, locks
from opsfn.testing import Client
from tests.lambda_service import LambdaService, lambda_service, sdk_client
from tests.operator_fixtures import audit_items

from .test_database import KEY, ago, set_status, status_of

START_LOCK = "database-start#instance#dash-db"


@pytest.fixture
def dashboard(db: str) -> Iterator[LambdaService]:
    with lambda_service(lambda_handler) as service:
        yield service


def invoke(service: LambdaService, payload: dict[str, Any]) -> dict[str, Any]:
    """What the dashboard's backend does: a synchronous invoke, the payload read as JSON."""
    reply = sdk_client(service.url).invoke(FunctionName="opsfn", InvocationType="RequestResponse",
                                           Payload=json.dumps(payload))
    body: dict[str, Any] = json.loads(reply["Payload"].read())
    if reply.get("FunctionError"):
        return {"functionError": body["errorType"], "message": body["errorMessage"]}
    return body


def backdate_start(minutes: float) -> None:
    """The start happened ``minutes`` ago (the database ran that long before what follows)."""
    moment = ago(minutes=minutes).timestamp()
    aws.client("dynamodb").update_item(
        TableName="ops-locks", Key={"lockId": {"S": KEY}}, UpdateExpression="SET startedAt = :t",
        ExpressionAttributeValues={":t": {"N": f"{moment:.3f}"}})


# -- the actions answer what the HTTP routes answer ---------------------------------------------------
def test_start_and_status_actions_answer_the_http_bodies(client: Client, dashboard: LambdaService
                                                         ) -> None:
    set_status("stopped")
    assert invoke(dashboard, {"action": "database_status"}) == client.get("/database/status").json()
    started = invoke(dashboard, {"action": "start_database"})
    assert (started["status"], started["progress"], started["ready"]) == ("starting", 50, False)
    assert len(started["restartId"]) == 32 and store.get_state(KEY).restart_id == started["restartId"]
    # up already: the status body, as POST /database/start's 200 answers it
    up = invoke(dashboard, {"action": "start_database"})
    http = client.post("/database/start")
    assert http.status == 200 and up == http.json()
    assert up == {"database": "dash-db", "kind": "instance", "status": "available",
                  "progress": 100, "ready": True}
    status = invoke(dashboard, {"action": "database_status"})
    assert status == client.get("/database/status", shape="http_v1").json()
    assert set(status) == {"database", "kind", "status", "progress", "ready", "lastActivity",
                           "startedAt", "idleLimitMinutes", "maxUptimeMinutes"}
    assert [r["result"]["restartId"] for r in audit_items("database_start")] == [
        started["restartId"]]


# -- the dashboard's own start call: Payload=json.dumps({}) ------------------------------------------
def test_empty_event_runs_the_configured_action(client: Client, db: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """With OPSFN_EMPTY_EVENT_ACTION=start_database, the dashboard's ``{}`` starts the database
    and answers the body POST /database/start answers, through the deployed handler too."""
    monkeypatch.setenv("OPSFN_EMPTY_EVENT_ACTION", "start_database")
    set_status("stopped")
    started = Client(lambda_handler).handle({})
    assert (started["status"], started["progress"], started["ready"]) == ("starting", 50, False)
    assert store.get_state(KEY).restart_id == started["restartId"]
    assert [r["result"]["restartId"] for r in audit_items("database_start")] == [
        started["restartId"]]
    up = client.handle({})  # up already: the status body, as POST /database/start's 200
    http = client.post("/database/start")
    assert http.status == 200 and up == http.json()
    # events with an action are untouched by the setting
    assert client.invoke("database_status") == client.get("/database/status").json()
    assert client.invoke("start_database") == up


def test_empty_event_without_the_setting_is_still_refused(client: Client, db: str,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    set_status("stopped")
    for unset in (None, ""):
        if unset is None:
            monkeypatch.delenv("OPSFN_EMPTY_EVENT_ACTION", raising=False)
        else:
            monkeypatch.setenv("OPSFN_EMPTY_EVENT_ACTION", unset)
        with pytest.raises(UnsupportedEvent, match="empty event"):
            client.handle({})
    assert status_of() == "stopped" and audit_items("database_start") == []


def test_empty_event_action_must_be_registered(client: Client, db: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    set_status("stopped")
    monkeypatch.setenv("OPSFN_EMPTY_EVENT_ACTION", "start_the_database")
    with pytest.raises(InvalidSetting, match="OPSFN_EMPTY_EVENT_ACTION") as raised:
        client.handle({})
    assert raised.value.variables == ["OPSFN_EMPTY_EVENT_ACTION"]
    # an action another app registers is no action of this one
    monkeypatch.setenv("OPSFN_EMPTY_EVENT_ACTION", "health")
    with pytest.raises(InvalidSetting, match="OPSFN_EMPTY_EVENT_ACTION"):
        client.handle({})
    assert status_of() == "stopped" and audit_items("database_start") == []
    assert client.invoke("database_status")["status"] == "stopped"  # other events never read it


def test_a_start_while_another_is_in_flight_is_conflict(client: Client,
                                                        dashboard: LambdaService) -> None:
    set_status("stopped")
    assert invoke(dashboard, {"action": "start_database"})["status"] == "starting"
    set_status("stopped")  # RDS still says stopped right after StartDBInstance
    refused = invoke(dashboard, {"action": "start_database"})
    assert refused["functionError"] == "Conflict"
    assert client.post("/database/start").status == 409
    with pytest.raises(Conflict):
        client.invoke("start_database")
    assert len(audit_items("database_start")) == 1


def test_status_right_after_a_start_keeps_the_lock(client: Client, db: str) -> None:
    """Within DB_START_SETTLE_SECONDS a 'stopped' status is RDS lagging: no second start."""
    set_status("stopped")
    assert client.post("/database/start").status == 202
    set_status("stopped")
    assert client.invoke("database_status")["status"] == "stopped"
    assert locks.holder_expiry(START_LOCK) is not None
    assert client.post("/database/start").status == 409


# -- the lock sequences ---------------------------------------------------------------------------
def test_start_status_stop_start_stop(client: Client, dashboard: LambdaService) -> None:
    set_status("stopped")
    first = invoke(dashboard, {"action": "start_database"})
    assert first["status"] == "starting"
    assert invoke(dashboard, {"action": "database_status"})["status"] == "available"
    stop = invoke(dashboard, {"action": "stop_database"})
    assert stop["stopped"] is True and status_of() == "stopped"
    assert locks.holder_expiry("database-stop#instance#dash-db") is None  # released once issued
    assert locks.holder_expiry(START_LOCK) is None
    second = client.post("/database/start", shape="http_v1")
    assert second.status == 202 and second.json()["restartId"] != first["restartId"]
    assert status_of() == "available"
    again = invoke(dashboard, {"action": "stop_database"})  # within five minutes of the first
    assert again["stopped"] is True, again
    assert status_of() == "stopped"
    assert [r["result"]["reason"] for r in audit_items("database_stop")] == ["operator", "operator"]
    assert len(audit_items("database_start")) == 2


def test_start_then_auto_stop_then_start_then_auto_stop(client: Client, db: str) -> None:
    set_status("stopped")
    assert client.post("/database/start").status == 202
    backdate_start(120)
    last_used(hours=2)
    assert client.schedule("database-auto-stop")["result"]["stopped"] is True
    assert client.post("/database/start").status == 202  # no stale start or stop lock
    backdate_start(300)  # up past DB_MAX_UPTIME_MINUTES
    result = client.schedule("database-auto-stop")["result"]
    assert result["stopped"] is True and result["reason"] == "max_uptime"


def test_start_outside_stop_auto_stop_start(client: Client, dashboard: LambdaService) -> None:
    set_status("stopped")
    assert invoke(dashboard, {"action": "start_database"})["status"] == "starting"
    backdate_start(10)  # it ran ten minutes, then someone stopped it in the console
    aws.client("rds").stop_db_instance(DBInstanceIdentifier="dash-db")
    assert locks.holder_expiry(START_LOCK) is not None  # the 15-minute lock outlived the start
    result = client.schedule("database-auto-stop")["result"]
    assert result["stopped"] is False and result["status"] == "stopped"
    assert locks.holder_expiry(START_LOCK) is None
    assert store.get_state(KEY).started_at is None
    restarted = invoke(dashboard, {"action": "start_database"})
    assert restarted["status"] == "starting" and status_of() == "available"


def test_start_outside_stop_status_start(client: Client, db: str) -> None:
    """Status, too, sees the database stopped and clears the lock; so does a start itself."""
    set_status("stopped")
    assert client.post("/database/start").status == 202
    backdate_start(10)
    aws.client("rds").stop_db_instance(DBInstanceIdentifier="dash-db")
    assert client.get("/database/status").json()["status"] == "stopped"
    assert locks.holder_expiry(START_LOCK) is None
    assert client.post("/database/start").status == 202
    backdate_start(10)
    aws.client("rds").stop_db_instance(DBInstanceIdentifier="dash-db")
    assert client.invoke("start_database")["status"] == "starting"  # no status call between


# -- activity signals --------------------------------------------------------------------------------
@pytest.fixture
def app_table(db: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The dashboard's own ``system-metadata`` table, as its auto-stop function read it."""
    aws.client("dynamodb").create_table(
        TableName="system-metadata", KeySchema=[{"AttributeName": "key", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "key", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST")
    monkeypatch.setenv("DB_ACTIVITY_TABLE", "system-metadata")
    return "system-metadata"


def app_writes(value: str) -> None:
    """What the application writes after each query: utcnow().isoformat(), no offset."""
    aws.client("dynamodb").put_item(TableName="system-metadata", Item={
        "key": {"S": "last_rds_query_time"}, "value": {"S": value}})


def connections(points: list[tuple[datetime, float]]) -> None:
    aws.client("cloudwatch").put_metric_data(Namespace="AWS/RDS", MetricData=[
        {"MetricName": "DatabaseConnections", "Timestamp": at, "Value": value,
         "Dimensions": [{"Name": "DBInstanceIdentifier", "Value": "dash-db"}]}
        for at, value in points])


def idle_since_hours(hours: float) -> None:
    store.mark_started(KEY, ago(hours=3), "r1")
    last_used(hours=hours)


def last_used(hours: float) -> None:
    """opsfn's own record says the last use was ``hours`` ago."""
    aws.client("dynamodb").update_item(
        TableName="ops-locks", Key={"lockId": {"S": KEY}}, UpdateExpression="SET lastActivity = :t",
        ExpressionAttributeValues={":t": {"N": f"{ago(hours=hours).timestamp():.3f}"}})


def test_the_applications_own_item_keeps_the_database_up(client: Client, app_table: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_ACTIVITY_SIGNALS", "record,table")
    idle_since_hours(2)  # opsfn heard nothing for two hours ...
    used = (datetime.now(UTC) - timedelta(minutes=5)).replace(tzinfo=None)
    app_writes(used.isoformat())  # ... but the application queried five minutes ago
    result = client.schedule("database-auto-stop")["result"]
    assert result["stopped"] is False and 4 < result["idleMinutes"] < 7
    assert result["activity"]["table"] == used.isoformat() + "Z"
    app_writes((datetime.now(UTC) - timedelta(minutes=90)).replace(tzinfo=None).isoformat())
    result = client.schedule("database-auto-stop")["result"]
    assert result["stopped"] is True and result["reason"] == "idle"
    assert status_of() == "stopped"


def test_the_item_alone_and_its_formats(client: Client, app_table: str,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_ACTIVITY_SIGNALS", "table")
    monkeypatch.setenv("DB_ACTIVITY_KEY_VALUE", "db-last-used")
    monkeypatch.setenv("DB_ACTIVITY_ATTRIBUTE", "at")
    idle_since_hours(0)  # recent opsfn record: not read when only "table" is configured
    aws.client("dynamodb").put_item(TableName="system-metadata", Item={
        "key": {"S": "db-last-used"}, "at": {"N": str(int(ago(minutes=3).timestamp()))}})
    assert client.schedule("database-auto-stop")["result"]["stopped"] is False
    aws.client("dynamodb").put_item(TableName="system-metadata", Item={
        "key": {"S": "db-last-used"}, "at": {"S": "last tuesday"}})
    with pytest.raises(InvalidContent, match="neither ISO 8601 nor epoch"):
        client.schedule("database-auto-stop")
    assert status_of() == "available"  # an unreadable signal never counts as idle
    aws.client("dynamodb").delete_item(TableName="system-metadata",
                                       Key={"key": {"S": "db-last-used"}})
    result = client.schedule("database-auto-stop")["result"]  # no item: idle since the start
    assert result["stopped"] is True and result["activity"] == {"table": None}


def test_connections_metric_is_activity(client: Client, db: str,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_ACTIVITY_SIGNALS", "record, connections")
    idle_since_hours(2)
    connections([(ago(minutes=50), 0), (ago(minutes=20), 3), (ago(minutes=10), 0)])
    result = client.schedule("database-auto-stop")["result"]
    assert result["stopped"] is False and 17 < result["idleMinutes"] < 21  # from minute 20's end
    assert result["activity"]["connections"] is not None
    monkeypatch.setenv("DB_IDLE_MINUTES", "15")  # no connection in the last 15 minutes: idle
    result = client.schedule("database-auto-stop")["result"]
    assert result["stopped"] is True and result["reason"] == "idle"
    assert result["activity"] == {"record": result["activity"]["record"], "connections": None}


def test_latest_of_all_signals(client: Client, app_table: str,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_ACTIVITY_SIGNALS", "record,table,connections")
    idle_since_hours(3)
    app_writes(ago(hours=2).replace(tzinfo=None).isoformat())
    connections([(ago(minutes=2), 1)])
    result = client.schedule("database-auto-stop")["result"]
    assert result["stopped"] is False and result["idleMinutes"] < 2
    assert set(result["activity"]) == {"record", "table", "connections"}


def test_unknown_signal_is_an_invalid_setting(client: Client, db: str,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_ACTIVITY_SIGNALS", "record,telepathy")
    idle_since_hours(2)
    with pytest.raises(InvalidSetting, match="DB_ACTIVITY_SIGNALS"):
        client.schedule("database-auto-stop")
    monkeypatch.setenv("DB_ACTIVITY_SIGNALS", "table")
    from opsfn.errors import MissingSetting

    with pytest.raises(MissingSetting, match="DB_ACTIVITY_TABLE"):
        client.schedule("database-auto-stop")
    assert status_of() == "available"
