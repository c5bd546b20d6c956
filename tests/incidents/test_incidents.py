"""Incident actions end to end: direct invokes through the Lambda path against moto."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import pytest

from opsfn.errors import Conflict, InvalidSetting, MissingSetting, UpstreamError, ValidationFailed
from opsfn.routes.incidents import remediation
from opsfn.services import aws
from opsfn.testing import Client
from tests.operator_fixtures import REDIS_PASSWORD, Inbox, RedisServer, audit_items
from tests.stubs import stubbed

NEEDS_TARGET = ("restart_service", "scale_up", "clear_cache")
LADDER = ["db.r5.large", "db.r5.xlarge", "db.r5.2xlarge", "db.r5.4xlarge"]
CACHE_LADDER = ["cache.r6g.large", "cache.r6g.xlarge", "cache.r6g.2xlarge"]


def incident(target: str, incident_id: str = "inc-1", priority: str = "high", **extra: Any
             ) -> dict[str, Any]:
    return {"target": target, "incidentId": incident_id, "priority": priority, **extra}


@pytest.fixture
def ecs_service(tables: None) -> str:
    ecs = aws.client("ecs")
    ecs.create_cluster(clusterName="prod")
    ecs.register_task_definition(family="api", containerDefinitions=[
        {"name": "api", "image": "nginx", "memory": 128}])
    ecs.create_service(cluster="prod", serviceName="production-api-service", taskDefinition="api",
                       desiredCount=2)
    ecs.create_service(cluster="prod", serviceName="production-auth-service", taskDefinition="api",
                       desiredCount=1)
    return "production-api-service"


@pytest.fixture
def rds_instance(tables: None) -> str:
    aws.client("rds").create_db_instance(
        DBInstanceIdentifier="dash-db", DBInstanceClass="db.r5.large", Engine="postgres",
        MasterUsername="admin", MasterUserPassword="password123", AllocatedStorage=20)
    return "dash-db"


@pytest.fixture
def redis_secret(tables: None, secret: Callable[[str], str]) -> str:
    secret(REDIS_PASSWORD)
    secret("wrong-password")
    return str(aws.client("secretsmanager").create_secret(
        Name="redis-auth", SecretString=json.dumps({"password": REDIS_PASSWORD}))["ARN"])


@pytest.fixture
def targets(monkeypatch: pytest.MonkeyPatch, redis_server: RedisServer, redis_secret: str
            ) -> dict[str, Any]:
    """The configuration only; tests create the resources they act on (moto setup is slow)."""
    config = {
        "api": {"kind": "ecs", "cluster": "prod", "service": "production-api-service",
                "maxCount": 6},
        "auth-service": {"kind": "ecs", "cluster": "prod", "service": "production-auth-service"},
        "database": {"kind": "rds_instance", "instanceId": "dash-db", "ladder": LADDER},
        "cache": {"kind": "elasticache", "replicationGroupId": "app-cache", "ladder": CACHE_LADDER,
                  "redis": {"host": redis_server.host, "port": redis_server.port,
                            "caFile": redis_server.ca_file, "secretArn": redis_secret}},
        "cache-replicas": {"kind": "elasticache", "replicationGroupId": "app-cache",
                           "scaleBy": "replicas", "maxReplicas": 3, "clearStrategy": "reboot"},
        "sessions": {"kind": "redis", "redis": {"host": redis_server.host,
                                                "port": redis_server.port, "db": 3,
                                                "caFile": redis_server.ca_file}},
    }
    monkeypatch.setenv("INCIDENT_TARGETS", json.dumps(config))
    monkeypatch.setenv("REDIS_SECRET_ARN", redis_secret)
    return config


def primary_deployment(service: str = "production-api-service") -> str:
    svc = aws.client("ecs").describe_services(cluster="prod", services=[service])["services"][0]
    return str(svc["deployments"][0]["id"])


# -- validation and configuration --------------------------------------------------------------------
def test_unknown_target_lists_the_valid_ones(client: Client, targets: dict[str, Any]) -> None:
    with pytest.raises(ValidationFailed) as caught:
        client.invoke("restart_service", **incident("default-service"))
    assert "api, auth-service, cache, cache-replicas, database, sessions" in caught.value.message
    assert caught.value.details[0]["loc"] == "payload.target"
    assert audit_items() == []


@pytest.mark.parametrize(("payload", "loc"), [
    ({"incidentId": "i", "priority": "high"}, "payload.target"),
    ({"target": "api", "priority": "high"}, "payload.incidentId"),
    ({"target": "api", "incidentId": "i"}, "payload.priority"),
    ({"target": "api", "incidentId": "i", "priority": "urgent"}, "payload.priority"),
    ({"target": "api", "incidentId": "i", "priority": "low", "extra": 1}, "payload.extra"),
    ({"target": "api", "incidentId": "bad id\n", "priority": "low"}, "payload.incidentId"),
    ({"target": "api", "incidentId": "i", "priority": "low", "incidentDetails": "x"},
     "payload.incidentDetails"),
])
def test_payload_validation_names_the_field(client: Client, tables: None,
                                            payload: dict[str, Any], loc: str) -> None:
    # A missing target is an error only where the action needs one (see the null-target tests).
    actions = NEEDS_TARGET if "target" not in payload else (*NEEDS_TARGET, "notify_human", "none")
    for action in actions:
        with pytest.raises(ValidationFailed) as caught:
            client.invoke(action, **payload)
        assert caught.value.details[0]["loc"] == loc


def test_targets_from_ssm_parameter(client: Client,
        ecs_service: str,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    aws.client("ssm").put_parameter(Name="/ops/targets", Type="SecureString", Value=json.dumps(
        {"api": {"kind": "ecs", "cluster": "prod", "service": ecs_service}}))
    monkeypatch.setenv("INCIDENT_TARGETS_PARAMETER", "/ops/targets")
    result = client.invoke("restart_service", **incident("api"))
    assert result["deploymentId"] == primary_deployment()


def test_missing_and_invalid_target_configuration(client: Client, tables: None,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(MissingSetting, match="INCIDENT_TARGETS"):
        client.invoke("restart_service", **incident("api"))
    monkeypatch.setenv("INCIDENT_TARGETS", '{"api": {"kind": "ecs"}}')
    with pytest.raises(InvalidSetting, match="INCIDENT_TARGETS"):
        client.invoke("restart_service", **incident("api"))
    monkeypatch.setenv("INCIDENT_TARGETS", "not json")
    with pytest.raises(InvalidSetting):
        client.invoke("restart_service", **incident("api"))
    monkeypatch.delenv("INCIDENT_TARGETS")
    monkeypatch.setenv("INCIDENT_TARGETS_PARAMETER", "/missing")
    with pytest.raises(UpstreamError, match="ParameterNotFound"):
        client.invoke("restart_service", **incident("api"))


def test_action_not_supported_by_target_kind(client: Client, targets: dict[str, Any]) -> None:
    with pytest.raises(ValidationFailed, match="restart_service is not supported for target database"):
        client.invoke("restart_service", **incident("database"))
    with pytest.raises(ValidationFailed, match="scale_up is not supported"):
        client.invoke("scale_up", **incident("sessions"))
    with pytest.raises(ValidationFailed, match="clear_cache is not supported"):
        client.invoke("clear_cache", **incident("api"))
    with pytest.raises(ValidationFailed) as caught:
        client.invoke("scale_up", **incident("api", dryRun=True))
    assert caught.value.details[0]["loc"] == "payload.dryRun"
    failed = audit_items()
    assert len(failed) == 3 and all(r["result"]["status"] == "failed" for r in failed)


# -- restart_service ---------------------------------------------------------------------------------
def test_restart_service_forces_a_deployment_once(client: Client, targets: dict[str, Any],
        ecs_service: str) -> None:
    before = primary_deployment()
    first = client.invoke("restart_service", **incident("api"))
    assert first["deploymentId"] == primary_deployment() != before
    assert first["service"] == "production-api-service"
    again = client.invoke("restart_service", **incident("api"))  # async retry / duplicate
    assert again == first
    assert primary_deployment() == first["deploymentId"]  # no second deployment
    records = audit_items("restart_service")
    assert len(records) == 1
    assert records[0]["incidentId"] == "inc-1" and records[0]["target"] == "api"
    assert records[0]["result"]["deploymentId"] == first["deploymentId"]
    other = client.invoke("restart_service", **incident("api", incident_id="inc-2"))
    assert other["deploymentId"] != first["deploymentId"]


def test_restart_ec2_reboots_instances(client: Client, tables: None,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    ec2 = aws.client("ec2")
    instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    monkeypatch.setenv("INCIDENT_TARGETS", json.dumps(
        {"worker": {"kind": "ec2", "instanceIds": [instance]}}))
    assert client.invoke("restart_service", **incident("worker"))["rebooted"] == [instance]


def test_same_incident_and_action_on_another_target_is_rejected(client: Client,
                                                                targets: dict[str, Any],
        ecs_service: str) -> None:
    client.invoke("restart_service", **incident("api"))
    with pytest.raises(ValidationFailed) as caught:
        client.invoke("restart_service", **incident("auth-service"))
    assert caught.value.details[0]["type"] == "idempotency_mismatch"


def test_throttled_call_fails_typed_and_the_retry_acts(client: Client,
                                                       targets: dict[str, Any],
        ecs_service: str) -> None:
    with stubbed("ecs") as stub:
        stub.add_client_error("update_service", service_error_code="ThrottlingException",
                              http_status_code=400)
        with pytest.raises(UpstreamError, match="UpdateService failed: ThrottlingException"):
            client.invoke("restart_service", **incident("api"))
    assert audit_items()[0]["result"] == {
        "status": "failed", "error": "aws:UpdateService:ThrottlingException"}
    result = client.invoke("restart_service", **incident("api"))  # the retry is not blocked
    assert result["deploymentId"] == primary_deployment()


def test_failing_call_raises_and_stores_nothing(client: Client, targets: dict[str, Any],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INCIDENT_TARGETS", json.dumps(
        {"api": {**targets["api"], "service": "no-such-service"}}))
    with pytest.raises(UpstreamError, match="UpdateService failed: ClusterNotFoundException"):
        client.invoke("restart_service", **incident("api"))
    items = aws.client("dynamodb").scan(TableName="ops-idempotency")["Items"]
    assert items == []


def test_idempotency_store_failure_is_upstream_error(client: Client, targets: dict[str, Any],
        ecs_service: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IDEMPOTENCY_TABLE", "no-such-table")
    before = primary_deployment()
    with pytest.raises(UpstreamError, match="idempotency store failed: ResourceNotFoundException"):
        client.invoke("restart_service", **incident("api"))
    assert primary_deployment() == before


def test_concurrent_duplicate_gets_conflict_then_the_first_result(
        client: Client, targets: dict[str, Any], ecs_service: str, monkeypatch: pytest.MonkeyPatch) -> None:
    entered, release = threading.Event(), threading.Event()
    real = remediation.restart_ecs
    calls: list[int] = []

    def slow(target: Any) -> dict[str, Any]:
        calls.append(1)
        entered.set()
        release.wait(10)
        return real(target)

    monkeypatch.setattr(remediation, "restart_ecs", slow)
    results: list[Any] = []
    worker = threading.Thread(target=lambda: results.append(
        client.invoke("restart_service", **incident("api"))))
    worker.start()
    assert entered.wait(10)
    with pytest.raises(Conflict, match="already in progress"):
        client.invoke("restart_service", **incident("api"))
    release.set()
    worker.join(10)
    assert client.invoke("restart_service", **incident("api")) == results[0]
    assert calls == [1]


# -- scale_up -----------------------------------------------------------------------------------------
def desired(service: str = "production-api-service") -> int:
    svc = aws.client("ecs").describe_services(cluster="prod", services=[service])["services"][0]
    return int(svc["desiredCount"])


def test_scale_up_api_by_priority_capped_and_never_down(client: Client,
                                                        targets: dict[str, Any],
        ecs_service: str) -> None:
    first = client.invoke("scale_up", **incident("api", "inc-1", "medium"))
    assert (first["before"], first["after"], first["changed"]) == (
        {"desiredCount": 2}, {"desiredCount": 3}, True)
    assert desired() == 3
    capped = client.invoke("scale_up", **incident("api", "inc-2", "critical"))
    assert capped["after"] == {"desiredCount": 6}  # critical wants 10, maxCount is 6
    lower = client.invoke("scale_up", **incident("api", "inc-3", "low"))
    assert (lower["before"], lower["after"], lower["changed"]) == (
        {"desiredCount": 6}, {"desiredCount": 6}, False)
    assert desired() == 6
    assert [r["result"]["after"] for r in audit_items("scale_up")].count({"desiredCount": 6}) == 2


def instance_class(instance: str = "dash-db") -> str:
    return str(aws.client("rds").describe_db_instances(DBInstanceIdentifier=instance)[
        "DBInstances"][0]["DBInstanceClass"])


def test_scale_up_database_climbs_the_ladder(client: Client, targets: dict[str, Any],
        rds_instance: str) -> None:
    high = client.invoke("scale_up", **incident("database", "inc-1", "high"))
    assert (high["before"], high["after"]) == ({"instanceClass": "db.r5.large"},
                                               {"instanceClass": "db.r5.xlarge"})
    assert instance_class() == "db.r5.xlarge"
    assert client.invoke("scale_up", **incident("database", "inc-1", "high")) == high
    assert instance_class() == "db.r5.xlarge"  # the duplicate did not climb again
    critical = client.invoke("scale_up", **incident("database", "inc-2", "critical"))
    assert critical["after"] == {"instanceClass": "db.r5.4xlarge"}
    top = client.invoke("scale_up", **incident("database", "inc-3", "critical"))
    assert top["changed"] is False and top["after"] == {"instanceClass": "db.r5.4xlarge"}


def test_scale_up_database_applies_immediately(client: Client, targets: dict[str, Any],
        rds_instance: str) -> None:
    rds = aws.client("rds")
    seen: list[dict[str, Any]] = []
    rds.meta.events.register("provide-client-params.rds.ModifyDBInstance",
                             lambda params, **_: seen.append(dict(params)))
    client.invoke("scale_up", **incident("database", "inc-9", "low"))
    assert seen == [{"DBInstanceIdentifier": "dash-db", "DBInstanceClass": "db.r5.xlarge",
                     "ApplyImmediately": True}]


def test_scale_up_database_only_when_available_and_on_the_ladder(
        client: Client, targets: dict[str, Any], rds_instance: str, monkeypatch: pytest.MonkeyPatch) -> None:
    aws.client("rds").stop_db_instance(DBInstanceIdentifier="dash-db")
    with pytest.raises(Conflict, match="database instance is stopped"):
        client.invoke("scale_up", **incident("database"))
    aws.client("rds").start_db_instance(DBInstanceIdentifier="dash-db")
    client.invoke("scale_up", **incident("database"))  # the retry after the conflict acts
    assert instance_class() == "db.r5.xlarge"
    config = dict(targets)
    config["database"] = {**targets["database"], "ladder": ["db.t3.small", "db.t3.medium"]}
    monkeypatch.setenv("INCIDENT_TARGETS", json.dumps(config))
    with pytest.raises(ValidationFailed, match="not on the configured ladder"):
        client.invoke("scale_up", **incident("database", "inc-2"))
    assert instance_class() == "db.r5.xlarge"


def test_scale_up_aurora_cluster_writer(client: Client, tables: None,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    rds = aws.client("rds")
    rds.create_db_cluster(DBClusterIdentifier="aurora", Engine="aurora-postgresql",
                          MasterUsername="admin", MasterUserPassword="password123")
    rds.create_db_instance(DBInstanceIdentifier="aurora-1", DBClusterIdentifier="aurora",
                           DBInstanceClass="db.r5.large", Engine="aurora-postgresql")
    monkeypatch.setenv("INCIDENT_TARGETS", json.dumps(
        {"database": {"kind": "rds_cluster", "clusterId": "aurora", "ladder": LADDER}}))
    result = client.invoke("scale_up", **incident("database", priority="critical"))
    assert result["cluster"] == "aurora" and result["instance"] == "aurora-1"
    assert result["after"] == {"instanceClass": "db.r5.2xlarge"}
    assert instance_class("aurora-1") == "db.r5.2xlarge"


def group_reply(node_type: str = "cache.r6g.large", replicas: int = 1,
                status: str = "available") -> dict[str, Any]:
    members = [{"CacheClusterId": f"app-cache-00{i + 1}", "CacheNodeId": "0001",
                "CurrentRole": "primary" if i == 0 else "replica"} for i in range(replicas + 1)]
    return {"ReplicationGroups": [{
        "ReplicationGroupId": "app-cache", "Status": status, "CacheNodeType": node_type,
        "MemberClusters": [m["CacheClusterId"] for m in members],
        "NodeGroups": [{"NodeGroupId": "0001", "Status": status, "NodeGroupMembers": members}],
    }]}


def test_scale_up_cache_node_type_is_a_real_modify(client: Client, targets: dict[str, Any]) -> None:
    with stubbed("elasticache") as stub:  # moto has no ModifyReplicationGroup: Stubber validates it
        stub.add_response("describe_replication_groups", group_reply(),
                          {"ReplicationGroupId": "app-cache"})
        stub.add_response("modify_replication_group", {"ReplicationGroup": {
            "ReplicationGroupId": "app-cache", "Status": "modifying"}},
            {"ReplicationGroupId": "app-cache", "CacheNodeType": "cache.r6g.xlarge",
             "ApplyImmediately": True})
        result = client.invoke("scale_up", **incident("cache"))
        stub.assert_no_pending_responses()
    assert (result["before"], result["after"]) == ({"cacheNodeType": "cache.r6g.large"},
                                                   {"cacheNodeType": "cache.r6g.xlarge"})
    with stubbed("elasticache") as stub:  # the duplicate makes no AWS call at all
        assert client.invoke("scale_up", **incident("cache")) == result


def test_scale_up_cache_replicas(client: Client, targets: dict[str, Any]) -> None:
    with stubbed("elasticache") as stub:
        stub.add_response("describe_replication_groups", group_reply(replicas=2),
                          {"ReplicationGroupId": "app-cache"})
        stub.add_response("increase_replica_count", {"ReplicationGroup": {
            "ReplicationGroupId": "app-cache", "Status": "modifying"}},
            {"ReplicationGroupId": "app-cache", "NewReplicaCount": 3, "ApplyImmediately": True})
        result = client.invoke("scale_up", **incident("cache-replicas", priority="critical"))
        stub.assert_no_pending_responses()
    assert (result["before"], result["after"]) == ({"replicasPerShard": 2},
                                                   {"replicasPerShard": 3})
    with stubbed("elasticache") as stub:
        stub.add_response("describe_replication_groups", group_reply(status="modifying"),
                          {"ReplicationGroupId": "app-cache"})
        with pytest.raises(Conflict, match="replication group is modifying"):
            client.invoke("scale_up", **incident("cache-replicas", "inc-2"))


# -- clear_cache ----------------------------------------------------------------------------------------
def test_clear_cache_dry_run_then_flushall_over_tls(client: Client, targets: dict[str, Any],
                                                    redis_server: RedisServer) -> None:
    redis0, redis3 = redis_server.client(0), redis_server.client(3)
    redis0.flushall()
    redis0.mset({f"k{i}": i for i in range(5)})
    redis3.set("session", "x")
    dry = client.invoke("clear_cache", **incident("cache", dryRun=True))
    assert (dry["dryRun"], dry["keys"], dry["strategy"], dry["tls"]) == (True, 6, "flushall", True)
    assert redis0.dbsize() == 5
    done = client.invoke("clear_cache", **incident("cache"))
    assert done["before"] == {"keys": 6} and done["after"] == {"keys": 0}
    redis0.set("fresh", "1")
    assert client.invoke("clear_cache", **incident("cache")) == done  # duplicate: no second flush
    assert redis0.get("fresh") == b"1"
    assert [r["result"].get("dryRun") for r in audit_items("clear_cache")].count(False) == 1


def test_clear_cache_flushdb_keeps_other_databases(client: Client, targets: dict[str, Any],
                                                   redis_server: RedisServer) -> None:
    redis0, redis3 = redis_server.client(0), redis_server.client(3)
    redis0.flushall()
    redis0.set("keep", "1")
    redis3.mset({"a": 1, "b": 2})
    result = client.invoke("clear_cache", **incident("sessions"))  # password via REDIS_SECRET_ARN
    assert result["strategy"] == "flushdb" and result["before"] == {"keys": 2}
    assert redis3.dbsize() == 0 and redis0.get("keep") == b"1"


def test_clear_cache_wrong_password_or_unreachable(client: Client, targets: dict[str, Any],
                                                   redis_server: RedisServer,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = aws.client("secretsmanager")
    secrets.put_secret_value(SecretId="redis-auth", SecretString="wrong-password")
    with pytest.raises(UpstreamError, match="Redis rejected the credentials"):
        client.invoke("clear_cache", **incident("cache"))
    secrets.put_secret_value(SecretId="redis-auth", SecretString="{\"user\": \"x\"}")
    with pytest.raises(InvalidSetting, match="REDIS_SECRET_ARN"):
        client.invoke("clear_cache", **incident("cache", "inc-2"))
    secrets.put_secret_value(SecretId="redis-auth", SecretString=REDIS_PASSWORD)
    config = dict(targets)
    config["sessions"] = {"kind": "redis", "redis": {"host": "127.0.0.1", "port": 1,
                                                     "timeoutSeconds": 1}}
    monkeypatch.setenv("INCIDENT_TARGETS", json.dumps(config))
    # The bounded redis retries still run; only their pauses are skipped.
    monkeypatch.setattr("redis.backoff.ExponentialBackoff.compute", lambda self, failures: 0.0)
    with pytest.raises(UpstreamError, match="Redis call failed: ConnectionError"):
        client.invoke("clear_cache", **incident("sessions", "inc-3"))


def test_clear_cache_by_reboot(client: Client, targets: dict[str, Any]) -> None:
    with stubbed("elasticache") as stub:
        stub.add_response("describe_replication_groups", group_reply(replicas=1),
                          {"ReplicationGroupId": "app-cache"})
        for member in ("app-cache-001", "app-cache-002"):
            stub.add_response("reboot_cache_cluster", {"CacheCluster": {
                "CacheClusterId": member, "CacheClusterStatus": "rebooting cache cluster nodes"}},
                {"CacheClusterId": member, "CacheNodeIdsToReboot": ["0001"]})
        result = client.invoke("clear_cache", **incident("cache-replicas"))
        stub.assert_no_pending_responses()
    assert result["clusters"] == ["app-cache-001", "app-cache-002"]


# -- notify_human ---------------------------------------------------------------------------------------
def test_notify_human_publishes_a_valid_subject_once(client: Client, targets: dict[str, Any],
                                                     inbox: Inbox) -> None:
    details = {"title": "🚨 Database down\nagain\t" + "x" * 200, "description": "p99 > 5s"}
    first = client.invoke("notify_human", **incident("database", priority="critical",
                                                     incidentDetails=details))
    assert client.invoke("notify_human", **incident("database", priority="critical",
                                                    incidentDetails=details)) == first
    messages = inbox.messages()
    assert len(messages) == 1
    subject = messages[0]["Subject"]
    assert subject.startswith("[CRITICAL] Incident inc-1: Database down again x")
    assert len(subject) < 100 and subject.isascii()
    assert all(ch.isprintable() for ch in subject)
    assert messages[0]["MessageAttributes"]["priority"] == {"Type": "String",
                                                            "Value": "critical"}
    assert "Description: p99 > 5s" in messages[0]["Message"]
    assert messages[0]["MessageId"] == first["messageId"]


def test_notify_human_without_details(client: Client, targets: dict[str, Any],
                                      inbox: Inbox) -> None:
    client.invoke("notify_human", **incident("api", priority="low"))
    client.invoke("notify_human", **incident("api", "inc-2", "low", incidentDetails={}))
    messages = inbox.messages()
    assert [m["Subject"] for m in messages] == [
        "[LOW] Incident inc-1 requires attention", "[LOW] Incident inc-2 requires attention"]
    assert "Title: (no title provided)" in messages[0]["Message"]
    assert "Description: (no description provided)" in messages[1]["Message"]


def test_notify_human_failures(client: Client, targets: dict[str, Any], inbox: Inbox,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ALERT_TOPIC_ARN")
    with pytest.raises(MissingSetting, match="ALERT_TOPIC_ARN"):
        client.invoke("notify_human", **incident("api"))
    monkeypatch.setenv("ALERT_TOPIC_ARN", inbox.topic_arn + "-gone")
    with pytest.raises(UpstreamError, match="Publish failed: NotFound"):
        client.invoke("notify_human", **incident("api"))
    monkeypatch.setenv("ALERT_TOPIC_ARN", inbox.topic_arn)
    assert client.invoke("notify_human", **incident("api"))["messageId"]
    assert len(inbox.messages()) == 1


def test_audit_failure_after_the_action_does_not_repeat_it(
        client: Client, targets: dict[str, Any], rds_instance: str,
        monkeypatch: pytest.MonkeyPatch, log_lines: Callable[[], list[str]]) -> None:
    monkeypatch.setenv("AUDIT_TABLE", "no-such-audit-table")
    first = client.invoke("scale_up", **incident("database"))
    assert first["auditId"] is None and first["after"] == {"instanceClass": "db.r5.xlarge"}
    assert client.invoke("scale_up", **incident("database")) == first  # the retry: stored result
    assert instance_class() == "db.r5.xlarge"
    assert any("audit record of a completed action not written" in line for line in log_lines())
