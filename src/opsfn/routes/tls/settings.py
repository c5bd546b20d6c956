"""Settings of the TLS materials on the file system."""

from __future__ import annotations

from typing import Literal

from opsfn.settings import SettingsSection, env_field

__all__ = ["KeyType", "TlsSettings"]

KeyType = Literal["rsa-2048", "ecdsa-p256"]


class TlsSettings(SettingsSection):
    """Where the key and certificate go, and what they hold."""

    ssl_dir: str | None = env_field(
        "SSL_DIR",
        "Directory that receives the TLS key and certificate (`certs/`, `private/` below it); may be "
        "the root of the mounted file system.",
    )
    ssl_access_point_uid: int | None = env_field(
        "SSL_ACCESS_POINT_UID",
        "uid the EFS access point enforces for the function (named in permission errors).", None,
        ge=0,
    )
    ssl_access_point_gid: int | None = env_field(
        "SSL_ACCESS_POINT_GID",
        "gid the EFS access point enforces for the function (named in permission errors).", None,
        ge=0,
    )
    ssl_common_name: str = env_field(
        "SSL_COMMON_NAME", "Subject CN of the self-signed certificate.", "localhost",
        min_length=1, max_length=64,
    )
    ssl_subject_alt_names: str = env_field(
        "SSL_SUBJECT_ALT_NAMES",
        "Comma-separated DNS names or IP addresses for the certificate's SAN extension.",
        "localhost",
    )
    ssl_key_type: KeyType = env_field(
        "SSL_KEY_TYPE", "Key algorithm: `rsa-2048` or `ecdsa-p256`.", "rsa-2048"
    )
    ssl_validity_days: int = env_field(
        "SSL_VALIDITY_DAYS", "Validity of a new certificate (days).", 365, ge=1, le=3650
    )
    ssl_renew_before_days: int = env_field(
        "SSL_RENEW_BEFORE_DAYS", "Regenerate when the certificate expires within this many days.", 7,
        ge=0, le=3650,
    )
    ssl_lock_stale_seconds: int = env_field(
        "SSL_LOCK_STALE_SECONDS",
        "A lock file on SSL_DIR older than this is taken to belong to a crashed run and is broken.",
        300, ge=5,
    )
    ssl_lock_wait_seconds: float = env_field(
        "SSL_LOCK_WAIT_SECONDS", "How long a run waits for another run's lock before giving up.", 30.0,
        ge=0,
    )
