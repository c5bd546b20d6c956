"""Settings of the SES SMTP credentials and receipt rule sets."""

from __future__ import annotations

from opsfn.settings import SettingsSection, env_field

__all__ = ["SesSettings"]


class SesSettings(SettingsSection):
    """SMTP endpoint and secret, and SES call pacing."""

    smtp_region: str | None = env_field(
        "SES_SMTP_REGION", "Region of the SES SMTP endpoint (default: the function's region)."
    )
    smtp_port: int = env_field("SES_SMTP_PORT", "SMTP port written into the credential secret.", 587,
                               gt=0, lt=65536)
    smtp_secret_recovery_days: int = env_field(
        "SES_SMTP_SECRET_RECOVERY_DAYS",
        "Recovery window when a custom resource Delete removes its credential secret (days).", 7,
        ge=7, le=30,
    )
    smtp_secret_id: str | None = env_field(
        "SES_SMTP_SECRET_ID",
        "Default secret of `rotate_smtp_credential`; the one `finish-smtp-rotation` advances."
    )
    smtp_user_name: str | None = env_field(
        "SES_SMTP_USER_NAME",
        "The IAM user of the SMTP credential: the only user the function may manage (IAM scope).",
    )
    smtp_source_secret_arn: str | None = env_field(
        "SES_SMTP_SOURCE_SECRET_ARN",
        "A secret the SMTP password is derived from, read only (IAM scope of the derive variant).",
    )
    smtp_target_secret_arn: str | None = env_field(
        "SES_SMTP_TARGET_SECRET_ARN",
        "The secret a derived SMTP password is written to (IAM scope of the derive variant).",
    )
    smtp_secrets_kms_key_arn: str | None = env_field(
        "SES_SMTP_SECRETS_KMS_KEY_ARN",
        "Customer key of those secrets, used only through Secrets Manager (IAM scope).",
    )
    receipt_rule_set: str | None = env_field(
        "SES_RECEIPT_RULE_SET",
        "The receipt rule set this deployment makes active: the SES rule-set calls, which have no "
        "resource-level permission, are granted only when it is set.",
    )
    smtp_rotation_grace_seconds: int = env_field(
        "SES_SMTP_ROTATION_GRACE_SECONDS",
        "After a rotation the old IAM key keeps working this long (containers started before it "
        "hold the old password); a later run or `finish-smtp-rotation` deletes it.", 86400, ge=0,
    )
    smtp_key_propagation_seconds: int = env_field(
        "SES_SMTP_KEY_PROPAGATION_SECONDS",
        "A new IAM key becomes the secret's AWSCURRENT version only once it is this old (IAM is "
        "eventually consistent).", 10, ge=0, le=600,
    )
    smtp_extra_regions: str = env_field(
        "SES_SMTP_EXTRA_REGIONS",
        "Comma-separated regions to accept in addition to the documented SES SMTP regions.", "",
    )

    ses_throttle_attempts: int = env_field(
        "SES_THROTTLE_ATTEMPTS", "Attempts of an SES call answered with Throttling (1 call/s limit).", 6,
        ge=1, le=20,
    )
