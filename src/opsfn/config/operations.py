"""Settings of incident actions, database lifecycle and Glue ETL."""

from __future__ import annotations

from opsfn.config.fields import MiB, SettingsSection, env_field

__all__ = ["OperationsSettings"]


class OperationsSettings(SettingsSection):
    """Operations settings."""

    # -- operations ---------------------------------------------------------------------------
    alert_topic_arn: str | None = env_field("ALERT_TOPIC_ARN", "SNS topic for alerts and notices.")

    # -- incident actions ---------------------------------------------------------------------
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
    redis_secret_arn: str | None = env_field(
        "REDIS_SECRET_ARN",
        "Secrets Manager secret with the Redis password (plain or JSON with password/auth_token); "
        "a target's own secretArn wins.",
    )

    # -- database lifecycle -------------------------------------------------------------------
    db_instance_id: str | None = env_field(
        "DB_INSTANCE_ID", "RDS instance started on demand and stopped when idle."
    )
    db_cluster_id: str | None = env_field(
        "DB_CLUSTER_ID", "Aurora cluster started on demand and stopped when idle (instead of an instance)."
    )
    db_idle_minutes: int = env_field(
        "DB_IDLE_MINUTES", "Stop the database after this many minutes without recorded activity.", 60,
        ge=1,
    )
    db_max_uptime_minutes: int = env_field(
        "DB_MAX_UPTIME_MINUTES", "Stop the database after this many minutes up, used or not.", 240,
        ge=1,
    )
    db_start_lock_seconds: int = env_field(
        "DB_START_LOCK_SECONDS", "How long a start request holds the start lock (s).", 900, ge=30,
    )

    # -- Glue ETL -----------------------------------------------------------------------------
    glue_workflow_name: str | None = env_field(
        "GLUE_WORKFLOW_NAME", "Glue workflow started for landed files and on schedule."
    )
    landing_bucket: str | None = env_field(
        "LANDING_BUCKET", "Bucket where FHIR JSON files land for the ETL."
    )
    landing_prefix: str = env_field("LANDING_PREFIX", "Key prefix of landed files.", "landing/")
    quarantine_prefix: str = env_field(
        "QUARANTINE_PREFIX", "Key prefix that invalid landed files are moved to.", "quarantine/"
    )
    landing_max_bytes: int = env_field(
        "LANDING_MAX_BYTES", "Landed files larger than this are quarantined unparsed (bytes).",
        64 * MiB, gt=0,
    )
    glue_alert_on_success: bool = env_field(
        "GLUE_ALERT_ON_SUCCESS", "Also publish an alert when a Glue job succeeds.", False
    )
    glue_job_names: str | None = env_field(
        "GLUE_JOB_NAMES",
        "Comma-separated Glue job names whose state changes are handled (unset: every job).",
    )
    glue_dedup_seconds: int = env_field(
        "GLUE_DEDUP_SECONDS", "How long duplicate trigger and alert deliveries are recognised (s).",
        86_400, ge=60,
    )
