"""The AWS side of incident actions, one function per (action, target kind).

Each returns a small JSON-safe summary with ``before``/``after`` where something changes. States
that make a change unsafe (an RDS instance that is not ``available``) raise :class:`Conflict`,
which is retryable: the async caller's retry may find the resource ready.
"""

from __future__ import annotations

from typing import Any

from opsfn.errors import Conflict, NotFound, ValidationFailed
from opsfn.routes.incidents import ladders
from opsfn.routes.incidents.models import Priority
from opsfn.routes.incidents.targets import (
    Ec2Target,
    EcsTarget,
    ElastiCacheTarget,
    RdsClusterTarget,
    RdsInstanceTarget,
)
from opsfn.services import aws


def _off_ladder(current: str) -> ValidationFailed:
    return ValidationFailed(
        f"current size {current} is not on the configured ladder; nothing was changed",
        details=[{"loc": "target.ladder", "msg": "current size missing from ladder",
                  "type": "off_ladder"}],
    )


# -- restart ------------------------------------------------------------------------------------
def restart_ecs(target: EcsTarget) -> dict[str, Any]:
    """Force a new deployment; the new PRIMARY deployment's id identifies the restart."""
    reply = aws.client("ecs").update_service(cluster=target.cluster, service=target.service,
                                             forceNewDeployment=True)
    deployments = reply["service"].get("deployments", [])
    primary = next((d for d in deployments if d.get("status") == "PRIMARY"), None)
    deployment_id = (primary or (deployments[0] if deployments else {})).get("id")
    return {"cluster": target.cluster, "service": target.service, "deploymentId": deployment_id}


def restart_ec2(target: Ec2Target) -> dict[str, Any]:
    """Reboot the target's instances."""
    aws.client("ec2").reboot_instances(InstanceIds=target.instance_ids)
    return {"rebooted": list(target.instance_ids)}


# -- scale up -----------------------------------------------------------------------------------
def scale_ecs(target: EcsTarget, priority: Priority) -> dict[str, Any]:
    """Raise the desired count to the priority's figure, never lower, capped at maxCount."""
    client = aws.client("ecs")
    services = client.describe_services(cluster=target.cluster, services=[target.service])
    found = [s for s in services.get("services", []) if s.get("status") == "ACTIVE"]
    if not found:
        raise NotFound(f"ECS service {target.service} is not active in {target.cluster}")
    step = ladders.desired_count(int(found[0]["desiredCount"]), target.desired_by_priority,
                                 priority, target.max_count)
    if step.changed:
        client.update_service(cluster=target.cluster, service=target.service,
                              desiredCount=step.after)
    return {"resource": "ecs_service", "service": target.service, "changed": step.changed,
            "before": {"desiredCount": step.before}, "after": {"desiredCount": step.after}}


def _scale_instance(instance_id: str, ladder: list[str], steps: dict[Priority, int],
                    priority: Priority) -> dict[str, Any]:
    client = aws.client("rds")
    instance = client.describe_db_instances(DBInstanceIdentifier=instance_id)["DBInstances"][0]
    status = instance["DBInstanceStatus"]
    if status != "available":
        raise Conflict(f"database instance is {status}; scale_up needs it available")
    try:
        step = ladders.next_on_ladder(instance["DBInstanceClass"], ladder, steps, priority)
    except ladders.OffLadder:
        raise _off_ladder(instance["DBInstanceClass"]) from None
    if step.changed:
        client.modify_db_instance(DBInstanceIdentifier=instance_id,
                                  DBInstanceClass=step.after, ApplyImmediately=True)
    return {"resource": "rds_instance", "instance": instance_id, "changed": step.changed,
            "before": {"instanceClass": step.before}, "after": {"instanceClass": step.after}}


def scale_rds_instance(target: RdsInstanceTarget, priority: Priority) -> dict[str, Any]:
    """Next class up the ladder, only when available, applied immediately."""
    return _scale_instance(target.instance_id, target.ladder, target.steps, priority)


def scale_rds_cluster(target: RdsClusterTarget, priority: Priority) -> dict[str, Any]:
    """Aurora: the writer instance moves up the ladder (only when the cluster is available)."""
    cluster = aws.client("rds").describe_db_clusters(
        DBClusterIdentifier=target.cluster_id)["DBClusters"][0]
    if cluster["Status"] != "available":
        raise Conflict(f"database cluster is {cluster['Status']}; scale_up needs it available")
    writer = next((m["DBInstanceIdentifier"] for m in cluster.get("DBClusterMembers", [])
                   if m.get("IsClusterWriter")), None)
    if writer is None:
        raise Conflict("database cluster has no writer instance to scale")
    result = _scale_instance(writer, target.ladder, target.steps, priority)
    return {**result, "cluster": target.cluster_id}


def _replication_group(group_id: str) -> dict[str, Any]:
    groups = aws.client("elasticache").describe_replication_groups(ReplicationGroupId=group_id)
    group: dict[str, Any] = dict(groups["ReplicationGroups"][0])
    if group.get("Status") != "available":
        raise Conflict(f"replication group is {group.get('Status')}; it must be available")
    return group


def scale_cache(target: ElastiCacheTarget, priority: Priority) -> dict[str, Any]:
    """A real ElastiCache change: node type up the ladder, or more replicas per shard."""
    client = aws.client("elasticache")
    group = _replication_group(target.replication_group_id)
    step: ladders.Step[str] | ladders.Step[int]
    if target.scale_by == "node_type":
        try:
            node_step = ladders.next_on_ladder(str(group.get("CacheNodeType")), target.ladder,
                                               target.steps, priority)
        except ladders.OffLadder:
            raise _off_ladder(str(group.get("CacheNodeType"))) from None
        if node_step.changed:
            client.modify_replication_group(ReplicationGroupId=target.replication_group_id,
                                            CacheNodeType=node_step.after, ApplyImmediately=True)
        step, field = node_step, "cacheNodeType"
    else:
        shards = group.get("NodeGroups") or [{}]
        replicas = min(max(0, len(s.get("NodeGroupMembers", [])) - 1) for s in shards)
        replica_step = ladders.replica_count(replicas, priority, target.steps, target.max_replicas)
        if replica_step.changed:
            client.increase_replica_count(ReplicationGroupId=target.replication_group_id,
                                          NewReplicaCount=replica_step.after,
                                          ApplyImmediately=True)
        step, field = replica_step, "replicasPerShard"
    return {"resource": "elasticache_replication_group", "group": target.replication_group_id,
            "changed": step.changed, "before": {field: step.before}, "after": {field: step.after}}


# -- clear cache by reboot ------------------------------------------------------------------------
def reboot_cache(target: ElastiCacheTarget, dry_run: bool) -> dict[str, Any]:
    """Reboot every node of every member cluster (the aggressive way to drop the cache)."""
    client = aws.client("elasticache")
    group = _replication_group(target.replication_group_id)
    members = list(group.get("MemberClusters", []))
    if not members:
        raise Conflict("replication group has no member clusters to reboot")
    if not dry_run:
        for cluster_id in members:
            client.reboot_cache_cluster(CacheClusterId=cluster_id, CacheNodeIdsToReboot=["0001"])
    return {"strategy": "reboot", "dryRun": dry_run, "clusters": members}
