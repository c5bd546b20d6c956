"""Settings of incident actions, database lifecycle and Glue ETL."""

from __future__ import annotations

from pydantic import BaseModel

from opsfn.config.fields import env_field

__all__ = ["OperationsSettings"]


class OperationsSettings(BaseModel):
    """Operations settings."""

    # -- operations ---------------------------------------------------------------------------
    alert_topic_arn: str | None = env_field("ALERT_TOPIC_ARN", "SNS topic for alerts and notices.")
