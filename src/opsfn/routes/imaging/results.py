"""``GET /get-results?jobId=...``: the job's state, labels, safe metadata and a fresh image URL.

The reply is what pages written for the original function poll every 2 s: ``status`` is
``pending``, ``processing``, ``complete`` (``results.Labels`` in DetectLabels' shape, and
``results.message`` when there are none for a known reason) or ``error`` (``error`` says why).

This route is the one browsers poll, so it stays light: one DynamoDB read and, once the job is
complete, one presigned GET made at read time with a short expiry, signed without building an S3
client. It imports no imaging library.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from opsfn import Context, Router, Text
from opsfn.access import allow, objects, table
from opsfn.errors import NotFound, ValidationFailed
from opsfn.routes.imaging import jobs
from opsfn.routes.imaging.settings import ImagingSettings
from opsfn.services import lean

router = Router()

# A UUID as parse_job_id takes it: 8-4-4-4-12 hex digits, any case; the length pins the end.
# Checked without pydantic (opsfn.core.text): this route is polled, its cold start stays light.
UUID_PATTERN = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
JobId = Annotated[str, Text(pattern=UUID_PATTERN, min_length=36, max_length=36, format="uuid")]


def parse_job_id(value: str) -> str:
    """The canonical lower-case form of a UUID jobId, or a 400 naming ``query.jobId``."""
    try:
        parsed = uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        parsed = None
    if parsed is None or str(parsed) != value.strip().lower():
        raise ValidationFailed("jobId must be a UUID", details=[{
            "loc": "query.jobId", "msg": "must be a UUID", "type": "uuid_parsing"}])
    return str(parsed)


def image_url(key: str) -> str:
    """A short-lived presigned GET for ``key`` in the upload bucket (no S3 client needed)."""
    settings = ImagingSettings.current()
    return lean.presigned_get(settings.required("UPLOAD_BUCKET"), key,
                              expires_in=settings.imaging_result_url_expiry_s)


@router.get("/get-results", auth="public", access=[  # the jobId is an unguessable capability
    allow("dynamodb:GetItem", on=table("TABLE_NAME")),
    allow("s3:GetObject", on=[objects("UPLOAD_BUCKET", "uploads/"),  # the result's image URL
                              objects("UPLOAD_BUCKET", "converted/")]),
])
def get_results(jobId: JobId, context: Context) -> dict[str, Any]:
    """The job as the browser sees it; 404 for an unknown jobId."""
    job_id = parse_job_id(jobId)
    job = jobs.get(job_id)
    if job is None:
        raise NotFound("no job with this jobId")
    status = job.get("status")
    if status == jobs.LEGACY_FAILED:
        status = jobs.ERROR
    key = job.get("imageKey") if status == jobs.COMPLETE else None
    return {
        "jobId": job_id,
        "status": status,
        "results": job.get("results"),
        "imageUrl": image_url(key) if isinstance(key, str) else None,
        "metadata": job.get("metadata"),
        "error": job.get("error"),
    }
