"""Incident remediation actions the incident backend invokes directly.

``restart_service``, ``scale_up``, ``clear_cache``, ``notify_human`` and ``none`` each take the
same payload, act at most once per ``(incidentId, action)`` (:mod:`opsfn.services.idempotency`),
write an audit record of what they did (or why they failed) and raise typed errors, so the async
caller's retries and failure destinations see every failure. Every success reply keeps the
action's typed fields and adds ``success``, ``message``, ``executionId`` and ``timestamp``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from opsfn import Context, Router, get_logger
from opsfn.access import allow, arn, arn_pattern, parameter
from opsfn.aws_errors import error_code
from opsfn.errors import OpsfnError, ValidationFailed
from opsfn.routes.incidents import cache_flush, messages, notices, remediation, targets
from opsfn.routes.incidents.models import IncidentRequest
from opsfn.routes.incidents.settings import IncidentSettings
from opsfn.routes.incidents.targets import (
    Ec2Target,
    EcsTarget,
    ElastiCacheTarget,
    RdsClusterTarget,
    RdsInstanceTarget,
    RedisTarget,
)
from opsfn.services import alerts, audit, idempotency

router = Router()

# Every action reads its targets, keeps its first result and writes an audit record.
ACTING = [*audit.ACCESS, *idempotency.ACCESS,
          allow("ssm:GetParameter", on=parameter("INCIDENT_TARGETS_PARAMETER"))]
ECS_SERVICES = arn_pattern("arn:{partition}:ecs:{region}:{account}:service/{ECS_CLUSTER_NAME}/*")
DB_INSTANCE = arn_pattern("arn:{partition}:rds:{region}:{account}:db:{DB_INSTANCE_ID}")
DB_CLUSTER = arn_pattern("arn:{partition}:rds:{region}:{account}:cluster:{DB_CLUSTER_ID}")
CACHE = [
    arn_pattern("arn:{partition}:elasticache:{region}:{account}:replicationgroup:"
                "{CACHE_REPLICATION_GROUP_ID}"),
    arn_pattern("arn:{partition}:elasticache:{region}:{account}:cluster:"
                "{CACHE_REPLICATION_GROUP_ID}-*"),
]
TAGGED_INSTANCES = allow(
    "ec2:RebootInstances", on=arn_pattern("arn:{partition}:ec2:{region}:{account}:instance/*"),
    when={"StringEquals": {"aws:ResourceTag/opsfn-incident-target": "true"}},
    why="only instances tagged as incident targets")

Work = Callable[[Any], dict[str, Any]]
NO_TARGET = "-"  # the audit record's target when the payload names none


def _audit_failure(action: str, request: IncidentRequest, exc: BaseException) -> None:
    aws_code, operation = error_code(exc), getattr(exc, "operation_name", None)
    if isinstance(exc, OpsfnError):
        code = exc.code
    elif aws_code is not None and isinstance(operation, str):
        code = f"aws:{operation}:{aws_code}"
    else:
        code = type(exc).__name__
    try:
        audit.record(action, request.target or NO_TARGET, {"status": "failed", "error": code},
                     incident_id=request.incident_id, audit_id=f"incident-failure:{uuid.uuid4().hex}")
    except Exception as failure:  # noqa: BLE001 - the action's own error is the one to report
        get_logger().warning("audit of a failed action failed",
                             extra={"action": action, "error_type": type(failure).__name__})


def _audit_success(action: str, request: IncidentRequest, outcome: dict[str, Any],
                   audit_id: str) -> str | None:
    """Write the success record; if that fails the action still counts as done.

    Raising here would delete the idempotency record and let the retry act a second time (a
    second rung up the ladder), which is worse than a missing audit line: log it loudly instead.
    """
    try:
        return audit.record(action, request.target or NO_TARGET, outcome,
                            incident_id=request.incident_id, audit_id=audit_id)
    except Exception as failure:  # noqa: BLE001 - see the docstring
        get_logger().error("audit record of a completed action not written", extra={
            "action": action, "incident_id": request.incident_id,
            "error_type": type(failure).__name__})
        return None


def _timestamp() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _target_of(action: str, request: IncidentRequest, needs_target: bool) -> Any:
    """The configured target, None where the action goes without one, or the typed error."""
    if request.target is None:
        if needs_target:
            raise targets.required(action)
        return None
    if action == "none":
        return None  # nothing is done to it: its name is only recorded
    return targets.resolve(request.target)


def _perform(action: str, request: IncidentRequest, context: Context, work: Work, *,
             needs_target: bool = True) -> dict[str, Any]:
    """Resolve the target, run ``work`` once, audit the outcome, return the reply."""
    target = _target_of(action, request, needs_target)
    kind = target.kind if target is not None else None
    # One record per real action (a duplicate that slipped past the store still writes one);
    # dry runs are separate reads and never take the real action's record.
    audit_id = (f"incident-dry-run:{uuid.uuid4().hex}" if request.dry_run
                else f"incident:{request.incident_id}:{action}")

    def act() -> dict[str, Any]:
        try:
            outcome = work(target)
        except Exception as exc:
            _audit_failure(action, request, exc)
            raise
        result = {"incidentId": request.incident_id, "action": action, "target": request.target,
                  "kind": kind, "priority": request.priority, **outcome}
        result["auditId"] = _audit_success(action, request, outcome, audit_id)
        result.update(success=True, executionId=audit_id, timestamp=_timestamp(),
                      message=messages.describe(action, request.incident_id, request.priority,
                                                request.target, outcome))
        return result

    if request.dry_run:
        return act()  # read-only: never stored, so the real action can still run later
    try:
        once = idempotency.run_once(
            f"incident#{request.incident_id}#{action}", act,
            in_flight_s=idempotency.in_flight_seconds(context),
            done_s=IncidentSettings.current().incident_idempotency_seconds,
            fingerprint=request.target or "",
            busy_message=f"{action} for this incident is already in progress")
    except idempotency.Mismatch:
        raise ValidationFailed(
            f"{action} already ran for this incident on a different target",
            details=[{"loc": "payload.target", "msg": "differs from the first request of this "
                      "incident and action", "type": "idempotency_mismatch"}],
        ) from None
    context.logger.info("incident action done", extra={
        "action": action, "target": request.target, "kind": kind,
        "changed": once.result.get("changed"), "replayed": once.replayed,
    })
    return once.result


def _no_dry_run(action: str) -> OpsfnError:
    return ValidationFailed(f"{action} has no dry run", details=[{
        "loc": "payload.dryRun", "msg": "only clear_cache supports dryRun", "type": "unsupported"}])


@router.action("restart_service", description="ECS forced deployment or EC2 reboot of a target.",
               access=[*ACTING, allow("ecs:UpdateService", on=ECS_SERVICES), TAGGED_INSTANCES])
def restart_service(payload: IncidentRequest, context: Context) -> dict[str, Any]:
    """Restart the target; returns the new deployment id (ECS) or the rebooted instances."""
    if payload.dry_run:
        raise _no_dry_run("restart_service")

    def work(target: Any) -> dict[str, Any]:
        if isinstance(target, EcsTarget):
            return remediation.restart_ecs(target)
        if isinstance(target, Ec2Target):
            return remediation.restart_ec2(target)
        raise targets.unsupported("restart_service", str(payload.target), target)

    return _perform("restart_service", payload, context, work)


@router.action("scale_up", description="Scale a database, ECS service or cache up by priority.",
               access=[*ACTING, allow("ecs:DescribeServices", "ecs:UpdateService", on=ECS_SERVICES),
                       allow("rds:DescribeDBInstances", "rds:ModifyDBInstance", on=DB_INSTANCE),
                       allow("rds:DescribeDBClusters", on=DB_CLUSTER),
                       allow("elasticache:DescribeReplicationGroups",
                             "elasticache:ModifyReplicationGroup",
                             "elasticache:IncreaseReplicaCount", on=CACHE)])
def scale_up(payload: IncidentRequest, context: Context) -> dict[str, Any]:
    """Scale the target up (never down); reports before and after."""
    if payload.dry_run:
        raise _no_dry_run("scale_up")

    def work(target: Any) -> dict[str, Any]:
        if isinstance(target, EcsTarget):
            return remediation.scale_ecs(target, payload.priority)
        if isinstance(target, RdsInstanceTarget):
            return remediation.scale_rds_instance(target, payload.priority)
        if isinstance(target, RdsClusterTarget):
            return remediation.scale_rds_cluster(target, payload.priority)
        if isinstance(target, ElastiCacheTarget):
            return remediation.scale_cache(target, payload.priority)
        raise targets.unsupported("scale_up", str(payload.target), target)

    return _perform("scale_up", payload, context, work)


@router.action("clear_cache", description="Flush Redis (dryRun counts keys) or reboot ElastiCache.",
               access=[*ACTING, allow("elasticache:DescribeReplicationGroups",
                                      "elasticache:RebootCacheCluster", on=CACHE),
                       allow("secretsmanager:GetSecretValue", on=arn("REDIS_SECRET_ARN"))])
def clear_cache(payload: IncidentRequest, context: Context) -> dict[str, Any]:
    """Flush the cache over TLS with the password from Secrets Manager, or reboot the group."""

    def work(target: Any) -> dict[str, Any]:
        if isinstance(target, ElastiCacheTarget) and target.clear_strategy == "reboot":
            return remediation.reboot_cache(target, payload.dry_run)
        endpoint = target.redis if isinstance(target, RedisTarget | ElastiCacheTarget) else None
        if endpoint is None:
            raise targets.unsupported("clear_cache", str(payload.target), target)
        creds = cache_flush.credentials(endpoint.secret_arn)
        timeout = max(0.5, min(endpoint.timeout_s, context.remaining_ms() / 1000 - 2))
        return cache_flush.flush(endpoint, creds, dry_run=payload.dry_run, timeout_s=timeout)

    return _perform("clear_cache", payload, context, work)


@router.action("notify_human", description="Publish the incident to the alert SNS topic.",
               access=[*ACTING, *alerts.ACCESS])
def notify_human(payload: IncidentRequest, context: Context) -> dict[str, Any]:
    """Tell a human: SNS publish with a valid subject and the priority as a message attribute."""
    if payload.dry_run:
        raise _no_dry_run("notify_human")

    def work(target: Any) -> dict[str, Any]:
        attributes = {"priority": payload.priority, "incidentId": payload.incident_id}
        if payload.target:
            attributes["target"] = payload.target
        message_id = alerts.publish(notices.incident_subject(payload),
                                    notices.incident_message(payload), attributes)
        return {"messageId": message_id}

    return _perform("notify_human", payload, context, work, needs_target=False)


@router.action("none", description="Do nothing (the incident analysis chose no action); audited.",
               access=ACTING)
def no_action(payload: IncidentRequest, context: Context) -> dict[str, Any]:
    """Answer success having done nothing; the audit record says nothing was done."""
    if payload.dry_run:
        raise _no_dry_run("none")
    return _perform("none", payload, context, lambda _target: {"status": "nothing_done"},
                    needs_target=False)
