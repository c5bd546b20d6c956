"""Settings of data protection jobs: RDS snapshot export, EFS to S3 sync, AWS Backup."""

from __future__ import annotations

from pydantic import BaseModel

from opsfn.config.fields import env_field

__all__ = ["ExportsSettings"]


class ExportsSettings(BaseModel):
    """RDS export, EFS sync and Backup settings."""
