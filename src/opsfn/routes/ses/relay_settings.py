"""Settings of the inbound mail relay (SES receipt rule -> S3 -> this function -> SES)."""

from __future__ import annotations

from opsfn.settings import MiB, SettingsSection, env_field

__all__ = ["SES_RAW_LIMIT", "RelaySettings"]

# SES API v1 SendRawEmail: at most 10 MB per message after base64 encoding (not adjustable).
SES_RAW_LIMIT = 10 * MiB


class RelaySettings(SettingsSection):
    """Where received mail is stored, where it is forwarded, and what stops it."""

    inbound_bucket: str | None = env_field(
        "SES_INBOUND_BUCKET", "Bucket the receipt rule's S3 action stores received mail in."
    )
    inbound_prefix: str = env_field(
        "SES_INBOUND_PREFIX",
        "Key prefix of that S3 action (SES stores each message under prefix + its message id).",
        "", max_length=512,
    )
    forward_to: str | None = env_field(
        "SES_FORWARD_TO", "Comma-separated addresses received mail is forwarded to (at most 50)."
    )
    forward_from: str | None = env_field(
        "SES_FORWARD_FROM",
        "Verified SES identity forwarded mail is sent from (`relay@example.org` or "
        "`Clinic <relay@example.org>`); Reply-To carries the original sender.",
    )
    block_verdicts: str = env_field(
        "SES_RELAY_BLOCK_VERDICTS",
        "Receipt checks whose FAIL verdict stops a message (comma-separated of spam, virus, spf, "
        "dkim, dmarc; empty forwards everything).",
        "spam,virus,spf,dmarc",
    )
    max_encoded_bytes: int = env_field(
        "SES_RELAY_MAX_ENCODED_BYTES",
        "Largest message forwarded, measured base64-encoded as SES counts it (bytes).",
        SES_RAW_LIMIT, ge=1024, le=SES_RAW_LIMIT,
    )
    dedup_days: int = env_field(
        "SES_RELAY_DEDUP_DAYS",
        "How long a handled message id is remembered in IDEMPOTENCY_TABLE, so a redelivery does "
        "nothing.",
        7, ge=1, le=365,
    )
