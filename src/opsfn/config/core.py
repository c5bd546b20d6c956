"""Settings of the framework itself."""

from __future__ import annotations

from opsfn.config.fields import MiB, SettingsSection, env_field

__all__ = ["CoreSettings"]


class CoreSettings(SettingsSection):
    """Framework settings: action queue, limits, tracing, custom resource margin."""

    @property
    def metrics_disabled(self) -> bool:
        """Whether per-route metrics are off (read with every event's settings, at no extra cost)."""
        return (self.metrics_switch or "").strip().lower() in ("1", "true")

    # -- core ---------------------------------------------------------------------------------
    region: str | None = env_field("AWS_REGION", "AWS region for every client (set by Lambda).")
    endpoint_url: str | None = env_field(
        "AWS_ENDPOINT_URL", "Send every AWS call to this endpoint (moto server, local stack)."
    )
    action_queue: str | None = env_field(
        "OPSFN_ACTION_QUEUE",
        "Name or URL of the SQS queue whose messages are `{\"action\": ...}` work items.",
    )
    schedule_prefix: str = env_field(
        "OPSFN_SCHEDULE_PREFIX", "Prefix stripped from rule/schedule names before lookup.", ""
    )
    max_body_bytes: int = env_field(
        "OPSFN_MAX_BODY_BYTES", "Largest HTTP request body accepted (bytes).", 1 * MiB, gt=0
    )
    tracing: bool = env_field("OPSFN_TRACING", "Enable the Powertools X-Ray tracer.", False)
    metrics_switch: str | None = env_field(
        "POWERTOOLS_METRICS_DISABLED",
        "`true` or `1`: no per-route EMF metrics (Powertools' own switch, read as Powertools does).",
    )
    custom_resource_margin_ms: int = env_field(
        "OPSFN_CR_MARGIN_MS",
        "Answer a custom resource FAILED this long before the Lambda deadline (ms).",
        5000,
        ge=500,
    )
    cors_origin: str | None = env_field(
        "OPSFN_CORS_ORIGIN", "Access-Control-Allow-Origin sent on HTTP replies (unset: none)."
    )

    # -- shared tables ----------------------------------------------------------------------------
    lock_table: str | None = env_field(
        "LOCK_TABLE", "DynamoDB table for short-lived locks (partition key lockId, S; TTL expiresAt)."
    )
    audit_table: str | None = env_field(
        "AUDIT_TABLE", "DynamoDB table of audit records (partition key auditId, S)."
    )
    idempotency_table: str | None = env_field(
        "IDEMPOTENCY_TABLE",
        "DynamoDB table of idempotency records (partition key id, S; TTL expiration).",
    )
