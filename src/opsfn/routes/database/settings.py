"""Settings of the on-demand database."""

from __future__ import annotations

from opsfn.settings import SettingsSection, env_field

__all__ = ["DatabaseSettings"]


class DatabaseSettings(SettingsSection):
    """Which database, and when auto-stop stops it."""

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
    db_start_settle_seconds: int = env_field(
        "DB_START_SETTLE_SECONDS",
        "For this long after a start, a 'stopped' status is RDS lagging behind; later it means "
        "the database was stopped, and the start lock is cleared (s).", 60, ge=0,
    )
    db_activity_signals: str = env_field(
        "DB_ACTIVITY_SIGNALS",
        "Comma-separated activity signals auto-stop reads (it takes the latest): record "
        "(record_activity, POST /database/activity, starts), table (DB_ACTIVITY_TABLE), "
        "connections (CloudWatch DatabaseConnections).", "record",
    )
    db_activity_table: str | None = env_field(
        "DB_ACTIVITY_TABLE", "The application's DynamoDB table holding its last-use time (signal table)."
    )
    db_activity_key_name: str = env_field(
        "DB_ACTIVITY_KEY_NAME", "Partition key name of the last-use item (a string key).", "key"
    )
    db_activity_key_value: str = env_field(
        "DB_ACTIVITY_KEY_VALUE", "Partition key value of the last-use item.", "last_rds_query_time"
    )
    db_activity_attribute: str = env_field(
        "DB_ACTIVITY_ATTRIBUTE",
        "Attribute of the last-use item: ISO 8601 text (no offset = UTC) or epoch seconds.", "value",
    )
