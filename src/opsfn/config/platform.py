"""Settings of platform operations (TLS, SES, RDS export, EFS sync, Backup)."""

from __future__ import annotations

from pydantic import BaseModel

from opsfn.config.fields import env_field

__all__ = ["PlatformSettings"]


class PlatformSettings(BaseModel):
    """Platform settings."""
