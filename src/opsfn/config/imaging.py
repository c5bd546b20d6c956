"""Settings of the image-analysis pipeline (uploads, jobs, DICOM, labels)."""

from __future__ import annotations

from pydantic import BaseModel

from opsfn.config.fields import env_field

__all__ = ["ImagingSettings"]


class ImagingSettings(BaseModel):
    """Image pipeline settings."""

    # -- image pipeline -----------------------------------------------------------------------
    upload_bucket: str | None = env_field("UPLOAD_BUCKET", "Bucket for browser uploads and results.")
    table_name: str | None = env_field("TABLE_NAME", "DynamoDB jobs table (partition key jobId, S).")
