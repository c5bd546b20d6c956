"""Settings that several domains share: the lock, audit and idempotency tables, the alert topic."""

from __future__ import annotations

from opsfn.core.settings import SettingsSection, env_field, register_section

__all__ = ["SharedSettings"]


@register_section  # listed by `opsfn settings` and the template check whoever uses it
class SharedSettings(SettingsSection):
    """Shared tables and the alert topic."""

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
    alert_topic_arn: str | None = env_field("ALERT_TOPIC_ARN", "SNS topic for alerts and notices.")
