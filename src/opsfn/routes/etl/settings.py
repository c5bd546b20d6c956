"""Settings of the Glue ETL trigger."""

from __future__ import annotations

from opsfn.settings import MiB, SettingsSection, env_field

__all__ = ["EtlSettings"]

# At 18.8 MiB/s, the slowest check rate bench/fhir_landing.py saw (through S3's StreamingBody,
# docs/etl.md), 8 GiB takes about 436 s: under half of Lambda's 900 s, leaving room for
# a slower S3 read. The deadline guard stops a slower check before the limit anyway.
MAX_FILE_DEFAULT = 8 * 1024 * MiB


class EtlSettings(SettingsSection):
    """Workflow, landing bucket and layout, alerts."""

    glue_workflow_name: str | None = env_field(
        "GLUE_WORKFLOW_NAME", "Glue workflow started for landed files and on schedule."
    )
    landing_bucket: str | None = env_field(
        "LANDING_BUCKET", "Bucket where FHIR JSON files land for the ETL."
    )
    landing_prefix: str = env_field(
        "LANDING_PREFIX",
        "Key prefix of landed files (the ETL project writes fhir_data/json/<category>/...).",
        "fhir_data/",
    )
    landing_json_suffixes: str = env_field(
        "LANDING_JSON_SUFFIXES",
        "Comma-separated key suffixes of JSON landing files (a resource, a Bundle or an array).",
        ".json",
    )
    landing_ndjson_suffixes: str = env_field(
        "LANDING_NDJSON_SUFFIXES",
        "Comma-separated key suffixes of NDJSON landing files (one resource per line).",
        ".ndjson",
    )
    quarantine_prefix: str = env_field(
        "QUARANTINE_PREFIX", "Key prefix that invalid landed files are moved to.", "quarantine/"
    )
    landing_max_bytes: int = env_field(
        "LANDING_MAX_BYTES",
        "Largest single JSON document, array entry or NDJSON line checked (bytes); larger is "
        "quarantined as too_large.",
        64 * MiB, gt=0,
    )
    landing_max_file_bytes: int = env_field(
        "LANDING_MAX_FILE_BYTES",
        "Landed files larger than this are quarantined unread as too_large (bytes).",
        MAX_FILE_DEFAULT, gt=0,
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
