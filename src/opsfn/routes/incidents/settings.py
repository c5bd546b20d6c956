"""Settings of the incident remediation actions."""

from __future__ import annotations

from opsfn.settings import SettingsSection, env_field

__all__ = ["IncidentSettings"]


class IncidentSettings(SettingsSection):
    """Incident targets, idempotency window and the Redis secret."""

    incident_targets: str | None = env_field(
        "INCIDENT_TARGETS",
        "Incident targets as JSON: {\"api\": {\"kind\": \"ecs\", \"cluster\": ..., \"service\": ...}, "
        "...}; kinds ecs, ec2, rds_instance, rds_cluster, elasticache, redis.",
    )
    incident_targets_parameter: str | None = env_field(
        "INCIDENT_TARGETS_PARAMETER",
        "SSM parameter holding the incident targets JSON (used when INCIDENT_TARGETS is unset).",
    )
    incident_idempotency_seconds: int = env_field(
        "INCIDENT_IDEMPOTENCY_SECONDS",
        "How long the first result of (incidentId, action) is replayed to duplicates (s).",
        86_400, ge=60,
    )
    ecs_cluster_name: str | None = env_field(
        "ECS_CLUSTER_NAME",
        "The ECS cluster whose services incident actions may restart and scale (their IAM scope).",
    )
    cache_replication_group_id: str | None = env_field(
        "CACHE_REPLICATION_GROUP_ID",
        "The ElastiCache replication group incident actions may scale and reboot (their IAM scope).",
    )
    redis_secret_arn: str | None = env_field(
        "REDIS_SECRET_ARN",
        "Secrets Manager secret with the Redis password (plain or JSON with password/auth_token); "
        "a target's own secretArn wins.",
    )
