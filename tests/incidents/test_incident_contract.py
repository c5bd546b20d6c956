"""The incident backend's contract: every action x target x priority, null targets, none, replies.

The backend sends ``{"action", "target", "incidentId", "priority", "incidentDetails"?}`` and reads
``success`` and ``message`` from a synchronous reply; asynchronous callers (``InvocationType:
Event``) only see 202 and rely on raised errors for retries. Both ways are exercised through a
real SDK client against the Lambda Invoke protocol (see ``lambda_service``), the resources live in
moto (ElastiCache calls moto lacks go through Stubber) and the caches on a real redis-server.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from opsfn.errors import Conflict, ValidationFailed
from opsfn.handler import lambda_handler
from opsfn.services import aws
from opsfn.testing import Client
from tests.lambda_service import lambda_service, sdk_client
from tests.operator_fixtures import REDIS_PASSWORD, Inbox, RedisServer, audit_items
from tests.stubs import stubbed

ACTIONS = ("restart_service", "scale_up", "clear_cache", "notify_human", "none")
PRIORITIES = ("low", "medium", "high", "critical")
LADDER = ["db.r5.large", "db.r5.xlarge", "db.r5.2xlarge", "db.r5.4xlarge"]
NODES = ["cache.r6g.large", "cache.r6g.xlarge", "cache.r6g.2xlarge", "cache.r6g.4xlarge"]
KINDS = {"api": "ecs", "auth-service": "ecs", "worker": "ec2", "database": "rds_instance",
         "aurora": "rds_cluster", "cache": "elasticache", "cache-replicas": "elasticache",
         "sessions": "redis"}
TARGETS: tuple[str | None, ...] = (*KINDS, None)
SUPPORTED = {"restart_service": {"ecs", "ec2"},
             "scale_up": {"ecs", "rds_instance", "rds_cluster", "elasticache"},
             "clear_cache": {"elasticache", "redis"}}
NO_TARGET_NEEDED = {"notify_human", "none"}
VALID = "api, aurora, auth-service, cache, cache-replicas, database, sessions, worker"


@pytest.fixture
def world(tables: None, inbox: Inbox, redis_server: RedisServer,
          secret: Callable[[str], str], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Every kind of target, configured as an operator would, with its resource in moto."""
    secret(REDIS_PASSWORD)
    ecs = aws.client("ecs")
    ecs.create_cluster(clusterName="prod")
    ecs.register_task_definition(family="api", containerDefinitions=[
        {"name": "api", "image": "nginx", "memory": 128}])
    for service in ("production-api-service", "production-auth-service"):
        ecs.create_service(cluster="prod", serviceName=service, taskDefinition="api",
                           desiredCount=1)
    rds = aws.client("rds")
    rds.create_db_instance(DBInstanceIdentifier="dash-db", DBInstanceClass="db.r5.large",
                           Engine="postgres", MasterUsername="admin",
                           MasterUserPassword="password123", AllocatedStorage=20)
    rds.create_db_cluster(DBClusterIdentifier="aurora", Engine="aurora-postgresql",
                          MasterUsername="admin", MasterUserPassword="password123")
    rds.create_db_instance(DBInstanceIdentifier="aurora-1", DBClusterIdentifier="aurora",
                           DBInstanceClass="db.r5.large", Engine="aurora-postgresql")
    instance = aws.client("ec2").run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)[
        "Instances"][0]["InstanceId"]
    aws.client("elasticache").create_replication_group(
        ReplicationGroupId="app-cache", ReplicationGroupDescription="app cache",
        CacheNodeType=NODES[0], Engine="redis", NumCacheClusters=2)
    secret_arn = aws.client("secretsmanager").create_secret(
        Name="redis-auth", SecretString=json.dumps({"password": REDIS_PASSWORD}))["ARN"]
    redis = {"host": redis_server.host, "port": redis_server.port, "caFile": redis_server.ca_file,
             "secretArn": secret_arn}
    config = {
        "api": {"kind": "ecs", "cluster": "prod", "service": "production-api-service",
                "maxCount": 10},
        "auth-service": {"kind": "ecs", "cluster": "prod", "service": "production-auth-service"},
        "worker": {"kind": "ec2", "instanceIds": [instance]},
        "database": {"kind": "rds_instance", "instanceId": "dash-db", "ladder": LADDER},
        "aurora": {"kind": "rds_cluster", "clusterId": "aurora", "ladder": LADDER},
        "cache": {"kind": "elasticache", "replicationGroupId": "app-cache", "ladder": NODES,
                  "redis": redis},
        "cache-replicas": {"kind": "elasticache", "replicationGroupId": "replicas",
                           "scaleBy": "replicas", "maxReplicas": 5, "clearStrategy": "reboot"},
        "sessions": {"kind": "redis", "redis": {**redis, "db": 3}},
    }
    monkeypatch.setenv("INCIDENT_TARGETS", json.dumps(config))
    return {"instance": instance, "redis": redis_server}


def payload(action: str, target: str | None, priority: str, incident_id: str,
            **extra: Any) -> dict[str, Any]:
    """The backend's payload exactly as it sends it (the target key is present, maybe null)."""
    return {"action": action, "target": target, "incidentId": incident_id, "priority": priority,
            **extra}


def replicas_reply(status: str = "available", replicas: int = 1) -> dict[str, Any]:
    members = [{"CacheClusterId": f"replicas-00{i + 1}", "CacheNodeId": "0001",
                "CurrentRole": "primary" if i == 0 else "replica"} for i in range(replicas + 1)]
    return {"ReplicationGroups": [{
        "ReplicationGroupId": "replicas", "Status": status,
        "MemberClusters": [m["CacheClusterId"] for m in members],
        "NodeGroups": [{"NodeGroupId": "0001", "Status": status, "NodeGroupMembers": members}]}]}


@contextmanager
def replicas_group(action: str, priority: str) -> Iterator[None]:
    """moto has no IncreaseReplicaCount or RebootCacheCluster: Stubber answers (and checks) them."""
    with stubbed("elasticache") as stub:
        stub.add_response("describe_replication_groups", replicas_reply(),
                          {"ReplicationGroupId": "replicas"})
        if action == "scale_up":
            wanted = 1 + (2 if priority == "critical" else 1)
            stub.add_response("increase_replica_count", {"ReplicationGroup": {
                "ReplicationGroupId": "replicas", "Status": "modifying"}},
                {"ReplicationGroupId": "replicas", "NewReplicaCount": wanted,
                 "ApplyImmediately": True})
        else:
            for member in ("replicas-001", "replicas-002"):
                stub.add_response("reboot_cache_cluster", {"CacheCluster": {
                    "CacheClusterId": member, "CacheClusterStatus": "rebooting"}},
                    {"CacheClusterId": member, "CacheNodeIdsToReboot": ["0001"]})
        yield
        stub.assert_no_pending_responses()


def assert_success_reply(reply: dict[str, Any], sent: dict[str, Any]) -> None:
    """The typed fields the actions always had, and the four the backend reads."""
    assert reply["success"] is True
    assert reply["incidentId"] == sent["incidentId"] and reply["action"] == sent["action"]
    assert reply["target"] == sent["target"] and reply["priority"] == sent["priority"]
    assert reply["kind"] == (KINDS[sent["target"]] if sent["target"] and sent["action"] != "none"
                             else None)
    assert reply["executionId"] == f"incident:{sent['incidentId']}:{sent['action']}"
    stamp = datetime.fromisoformat(reply["timestamp"])
    assert reply["timestamp"].endswith("Z") and stamp.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - stamp) < timedelta(minutes=1)
    message = reply["message"]
    assert isinstance(message, str) and message.endswith(".") and "\n" not in message
    assert message[0].isupper() and len(message) < 300
    if sent["target"]:
        assert sent["target"] in message
    if sent["action"] in ("notify_human", "none"):
        assert sent["incidentId"] in message


def effect_seen(action: str, target: str, reply: dict[str, Any], world: dict[str, Any]) -> None:
    """What AWS (or Redis) shows after the action: the reply describes a real change."""
    if action == "restart_service" and KINDS[target] == "ecs":
        svc = aws.client("ecs").describe_services(cluster="prod", services=[reply["service"]])[
            "services"][0]
        assert reply["deploymentId"] in {d["id"] for d in svc["deployments"]}
    elif action == "restart_service":
        assert reply["rebooted"] == [world["instance"]]
    elif action == "scale_up" and target in ("api", "auth-service"):
        svc = aws.client("ecs").describe_services(cluster="prod", services=[reply["service"]])[
            "services"][0]
        assert svc["desiredCount"] == reply["after"]["desiredCount"]
    elif action == "scale_up" and target in ("database", "aurora"):
        found = aws.client("rds").describe_db_instances(DBInstanceIdentifier=reply["instance"])[
            "DBInstances"][0]
        assert found["DBInstanceClass"] == reply["after"]["instanceClass"]
    elif action == "scale_up" and target == "cache":
        group = aws.client("elasticache").describe_replication_groups(
            ReplicationGroupId="app-cache")["ReplicationGroups"][0]
        assert group["CacheNodeType"] == reply["after"]["cacheNodeType"]
    elif action == "clear_cache" and target in ("cache", "sessions"):
        assert reply["after"] == {"keys": 0}
        assert world["redis"].client(3 if target == "sessions" else 0).dbsize() == 0


def refused(action: str, target: str | None) -> bool:
    if action in NO_TARGET_NEEDED:
        return False
    return target is None or KINDS[target] not in SUPPORTED[action]


@pytest.mark.parametrize("action", ACTIONS)
def test_every_target_and_priority(client: Client, world: dict[str, Any], inbox: Inbox,
                                   action: str) -> None:
    """Each target (and null) at each priority: a success reply with its effect, or a typed
    refusal naming payload.target; both audited."""
    redis = world["redis"]
    done = 0
    for target in TARGETS:
        for priority in PRIORITIES:
            incident_id = f"{action}.{target or 'null'}.{priority}"
            sent = payload(action, target, priority, incident_id,
                           incidentDetails={"title": "p99 latency", "description": "over 5 s"})
            if action == "clear_cache" and target in ("cache", "sessions"):
                redis.client(3 if target == "sessions" else 0).mset({"a": 1, "b": 2})
            if refused(action, target):
                with pytest.raises(ValidationFailed) as caught:
                    client.handle(sent)
                (detail,) = caught.value.details
                assert detail["loc"] == "payload.target"
                assert detail["type"] == ("missing_target" if target is None
                                          else "unsupported_target")
                if target is None:
                    assert VALID in caught.value.message
                continue
            if target == "cache-replicas" and action in ("scale_up", "clear_cache"):
                with replicas_group(action, priority):
                    reply = client.handle(sent)
            else:
                reply = client.handle(sent)
            assert_success_reply(reply, sent)
            if target is not None:
                effect_seen(action, target, reply, world)
            records = [r for r in audit_items(action) if r["incidentId"] == incident_id]
            assert len(records) == 1 and records[0]["target"] == (target or "-")
            done += 1
    expected = sum(not refused(action, t) for t in TARGETS) * len(PRIORITIES)
    assert done == expected > 0
    if action == "notify_human":
        assert len(inbox.messages()) == expected
    else:
        assert inbox.messages() == []


def test_scale_up_moves_by_priority(client: Client, world: dict[str, Any]) -> None:
    """The priorities differ where the targets say they do: tasks by priority, rungs by steps."""
    wanted = {"low": 2, "medium": 3, "high": 5, "critical": 10}
    for priority in PRIORITIES:
        reply = client.handle(payload("scale_up", "api", priority, f"p-{priority}"))
        assert reply["after"] == {"desiredCount": wanted[priority]}
    high = client.handle(payload("scale_up", "database", "high", "db-high"))
    assert (high["before"], high["after"]) == ({"instanceClass": LADDER[0]},
                                               {"instanceClass": LADDER[1]})
    critical = client.handle(payload("scale_up", "database", "critical", "db-critical"))
    assert critical["after"] == {"instanceClass": LADDER[3]}  # two rungs
    top = client.handle(payload("scale_up", "database", "critical", "db-top"))
    assert top["changed"] is False
    assert top["message"] == (f"Target database (RDS instance dash-db) is already at instance "
                              f"class {LADDER[3]}; nothing was changed.")


def test_messages_say_what_was_done_to_which_target(client: Client, world: dict[str, Any]) -> None:
    assert client.handle(payload("restart_service", "api", "high", "m1"))["message"] == (
        "Restarted ECS service production-api-service in cluster prod for target api with a new "
        "deployment.")
    assert client.handle(payload("scale_up", "api", "medium", "m2"))["message"] == (
        "Scaled up target api (ECS service production-api-service): desired task count 1 to 3.")
    world["redis"].client(0).flushall()
    world["redis"].client(0).mset({"a": 1, "b": 2})
    assert client.handle(payload("clear_cache", "cache", "high", "m3", dryRun=True))[
        "message"] == "Dry run: the Redis cache of target cache holds 2 keys; nothing was flushed."
    assert client.handle(payload("clear_cache", "cache", "high", "m3"))["message"] == (
        "Flushed the Redis cache of target cache (2 keys removed).")
    assert client.handle(payload("notify_human", None, "critical", "m4"))["message"] == (
        "Notified the on-call humans of incident m4 (critical priority).")
    assert client.handle(payload("none", None, "low", "m5"))["message"] == (
        "No action was taken for incident m5: the requested action was none.")


# -- null targets and none -------------------------------------------------------------------------
def test_notify_human_with_null_target_is_what_the_fallback_sends(
        client: Client, world: dict[str, Any], inbox: Inbox) -> None:
    sent = payload("notify_human", None, "high", "fallback-1",
                   incidentDetails={"title": "Unclassified alert", "description": "see logs"})
    reply = client.handle(sent)
    assert_success_reply(reply, sent)
    (notice,) = inbox.messages()
    assert notice["Subject"] == "[HIGH] Incident fallback-1: Unclassified alert"
    assert "Target: (none)" in notice["Message"] and "Description: see logs" in notice["Message"]
    assert "target" not in notice["MessageAttributes"]
    assert notice["MessageId"] == reply["messageId"]
    left_out = {k: v for k, v in sent.items() if k != "target"} | {"incidentId": "fallback-2"}
    assert client.handle(left_out)["success"] is True  # a missing key is the same as null


def test_null_target_where_one_is_needed_lists_the_valid_names(client: Client,
                                                               world: dict[str, Any]) -> None:
    for action in ("restart_service", "scale_up", "clear_cache"):
        with pytest.raises(ValidationFailed) as caught:
            client.handle(payload(action, None, "high", "no-target"))
        assert caught.value.message == f"{action} needs a target; must be one of: {VALID}"
        assert caught.value.details == [{"loc": "payload.target", "type": "missing_target",
                                         "msg": f"required for {action}; must be one of: {VALID}"}]
    with pytest.raises(ValidationFailed) as unknown:
        client.handle(payload("restart_service", "default-service", "high", "bad-target"))
    assert unknown.value.details[0]["loc"] == "payload.target"
    assert VALID in unknown.value.details[0]["msg"]
    assert audit_items("restart_service") == []  # nothing was attempted


def test_null_target_without_configured_targets_still_names_the_field(
        client: Client, tables: None) -> None:
    with pytest.raises(ValidationFailed) as caught:
        client.handle(payload("scale_up", None, "low", "i"))
    assert caught.value.details[0]["loc"] == "payload.target"
    assert "could not be read (missing_setting)" in caught.value.message


def test_none_does_nothing_and_is_audited_once(client: Client, world: dict[str, Any],
                                               inbox: Inbox) -> None:
    before = aws.client("ecs").describe_services(cluster="prod", services=[
        "production-api-service"])["services"][0]["deployments"]
    first = client.handle(payload("none", "api", "medium", "ai-7"))
    assert first["status"] == "nothing_done" and first["kind"] is None
    assert client.handle(payload("none", "api", "medium", "ai-7")) == first  # duplicate
    assert client.handle(payload("none", "no-such-target", "low", "ai-8"))["success"] is True
    (record, _other) = sorted(audit_items("none"), key=lambda r: str(r["incidentId"]))
    assert record["incidentId"] == "ai-7" and record["result"] == {"status": "nothing_done"}
    assert inbox.messages() == []
    after = aws.client("ecs").describe_services(cluster="prod", services=[
        "production-api-service"])["services"][0]["deployments"]
    assert after == before


def test_none_is_an_action_of_the_deployed_handler() -> None:
    from opsfn.handler import app

    assert "none" in app.registry.actions
    with pytest.raises(ValidationFailed) as caught:
        lambda_handler({"action": "none", "target": None, "incidentId": "x", "priority": "urgent"},
                       None)
    assert caught.value.details[0]["loc"] == "payload.priority"


# -- duplicates ----------------------------------------------------------------------------------
def test_duplicates_replay_the_first_reply(client: Client, world: dict[str, Any],
                                           inbox: Inbox) -> None:
    for action, target in (("restart_service", "api"), ("scale_up", "database"),
                           ("notify_human", None), ("none", None)):
        sent = payload(action, target, "high", f"dup-{action}")
        first = client.handle(sent)
        again = client.handle(sent)
        assert again == first  # same message, executionId and timestamp: nothing was redone
    assert len(audit_items("restart_service")) == 1 and len(inbox.messages()) == 1
    with pytest.raises(ValidationFailed) as caught:
        client.handle(payload("restart_service", "auth-service", "high", "dup-restart_service"))
    assert caught.value.details[0]["type"] == "idempotency_mismatch"


# -- the SDK's two ways of invoking ------------------------------------------------------------------
def test_synchronous_invoke_reads_success_and_message(world: dict[str, Any]) -> None:
    with lambda_service(lambda_handler) as service:
        sdk = sdk_client(service.url)
        sent = payload("restart_service", "api", "critical", "sync-1")
        reply = sdk.invoke(FunctionName="opsfn", InvocationType="RequestResponse",
                           Payload=json.dumps(sent))
        assert reply["StatusCode"] == 200 and "FunctionError" not in reply
        body = json.loads(reply["Payload"].read())
        assert_success_reply(body, sent)
        refused_reply = sdk.invoke(FunctionName="opsfn", Payload=json.dumps(
            payload("clear_cache", "api", "low", "sync-2")))
        assert refused_reply["FunctionError"] == "Unhandled"
        error = json.loads(refused_reply["Payload"].read())
        assert error["errorType"] == "ValidationFailed"
        assert "clear_cache is not supported for target api" in error["errorMessage"]


def test_asynchronous_invoke_is_202_and_retries_until_done(world: dict[str, Any],
                                                           inbox: Inbox) -> None:
    """Event invokes answer 202; a copy refused while another is in flight is retried by Lambda
    and ends with the first result, and a bad payload fails every attempt (for the DLQ)."""
    held = aws.client("dynamodb")
    held.put_item(TableName="ops-idempotency", Item={  # another delivery still running
        "id": {"S": "incident#async-1#notify_human"}, "status": {"S": "INPROGRESS"},
        "owner": {"S": "other"}, "fingerprint": {"S": ""},
        "expiration": {"N": str(int(datetime.now(UTC).timestamp()) + 600)}})
    attempts_seen: list[str] = []

    def handler(event: Any, context: Any) -> Any:
        if event["action"] == "notify_human":
            attempts_seen.append(context.aws_request_id)
        if len(attempts_seen) == 2:  # the first copy finished (or died) meanwhile
            held.delete_item(TableName="ops-idempotency",
                             Key={"id": {"S": "incident#async-1#notify_human"}})
        return lambda_handler(event, context)

    with lambda_service(handler) as service:
        sdk = sdk_client(service.url)
        reply = sdk.invoke(FunctionName="opsfn", InvocationType="Event",
                           Payload=json.dumps(payload("notify_human", None, "high", "async-1")))
        assert reply["StatusCode"] == 202
        bad = sdk.invoke(FunctionName="opsfn", InvocationType="Event",
                         Payload=json.dumps(payload("scale_up", None, "high", "async-2")))
        assert bad["StatusCode"] == 202
        service.wait()
    notify = [a for a in service.attempts if a.event["action"] == "notify_human"]
    assert [a.error_type for a in notify] == ["Conflict", None]
    assert len({a.request_id for a in notify}) == 1  # Lambda's retry keeps the request id
    assert notify[-1].result["success"] is True and len(inbox.messages()) == 1
    failed = [a for a in service.attempts if a.event["action"] == "scale_up"]
    # the first try and Lambda's two retries fail; the failure destination gets the event
    assert [a.error_type for a in failed] == ["ValidationFailed"] * 3


def test_in_flight_duplicate_is_conflict_not_success(client: Client, world: dict[str, Any]) -> None:
    aws.client("dynamodb").put_item(TableName="ops-idempotency", Item={
        "id": {"S": "incident#busy#scale_up"}, "status": {"S": "INPROGRESS"},
        "owner": {"S": "other"}, "fingerprint": {"S": "database"},
        "expiration": {"N": str(int(datetime.now(UTC).timestamp()) + 600)}})
    with pytest.raises(Conflict, match="scale_up for this incident is already in progress"):
        client.handle(payload("scale_up", "database", "high", "busy"))
