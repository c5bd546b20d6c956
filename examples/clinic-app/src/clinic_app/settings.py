"""The clinic's settings section, shown by ``opsfn settings --app clinic_app.app:app``."""

from __future__ import annotations

from opsfn.settings import SettingsSection, env_field, register_section


@register_section
class ClinicSettings(SettingsSection):
    """Where referrals are kept and how they are triaged."""

    referrals_bucket: str | None = env_field(
        "CLINIC_REFERRALS_BUCKET", "Bucket receiving referrals (referrals/), triage results "
        "(triage/) and the clinic directory (directory/).")
    lab_results_queue: str | None = env_field(
        "CLINIC_LAB_RESULTS_QUEUE", "SQS queue the laboratory sends lab results to (name or URL).")
    notices_topic: str | None = env_field(
        "CLINIC_NOTICES_TOPIC", "SNS topic of notices to the clinic's staff (ARN).")
    clinic_name: str = env_field("CLINIC_NAME", "Name written into the clinic directory.", "Clinic")
    urgent_within_days: int = env_field(
        "CLINIC_URGENT_WITHIN_DAYS", "Days within which an urgent referral must be seen.", 2,
        ge=0, le=30)
