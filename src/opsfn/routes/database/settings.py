"""Settings of the on-demand database."""

from __future__ import annotations

from opsfn.core.settings import SettingsSection, env_field

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
