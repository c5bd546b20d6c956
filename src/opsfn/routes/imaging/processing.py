"""S3 ``ObjectCreated`` on ``uploads/``: sniff, render DICOM, label, and finish the job.

At-least-once delivery is expected: the job is claimed with a conditional update first, so a
repeated event for a job that is processing or done changes nothing and calls nothing. Content
that can never work (not an image, broken DICOM, too large) fails the job for good and the record
succeeds; anything else (AWS errors, crashes) fails the job as retryable and re-raises, so the
event is retried and alarms see it. Only ``converted/...`` keys are written, which the route's
``uploads/`` prefix never matches.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from opsfn.core.invocation import Context
from opsfn.core.router import Router, setting
from opsfn.errors import NotFound, OpsfnError, ValidationFailed
from opsfn.events.s3 import S3Object
from opsfn.routes.imaging.settings import ImagingSettings

router = Router()

_KEY = re.compile(
    r"uploads/([0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12})/original"
)
RETRY_REASON = "temporary processing error; the upload will be retried"
# Rekognition error codes that describe the image, not the service: retrying cannot help.
REKOGNITION_CONTENT_ERRORS = frozenset(
    {"InvalidImageFormatException", "ImageTooLargeException", "InvalidParameterException"}
)


class BadContent(Exception):
    """The upload itself is unusable; ``reason`` is short and safe to store and show."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(slots=True)
class Outcome:
    """What processing produced for the job item."""

    kind: str
    image_key: str
    labels: list[dict[str, Any]]
    metadata: dict[str, Any] = field(default_factory=dict)


def converted_key(job_id: str, name: str = "image.png") -> str:
    """Where derived files of a job live (outside ``uploads/``, so they trigger nothing)."""
    return f"converted/{job_id}/{name}"


def job_id_from_key(key: str) -> str:
    """The jobId of ``uploads/{jobId}/original``; any other key under uploads/ is refused."""
    match = _KEY.fullmatch(key)
    if match is None:
        raise ValidationFailed("object key is not an upload slot", details=[{
            "loc": "object.key", "msg": "expected uploads/{jobId}/original", "type": "key"}])
    return match.group(1)


def _client_error_code(exc: Exception) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", "")) or None
    return None


def _read_object(bucket: str, key: str, max_bytes: int) -> bytes:
    from opsfn.services import aws

    reply = aws.client("s3").get_object(Bucket=bucket, Key=key)
    size = int(reply.get("ContentLength", 0))
    if size > max_bytes:
        reply["Body"].close()
        raise BadContent("the file is larger than the upload limit")
    data: bytes = reply["Body"].read()
    if not data:
        raise BadContent("the file is empty")
    return data


def _image_size(data: bytes, kind: str, max_pixels: int) -> tuple[int, int]:
    """Width and height of a JPEG/PNG from its header, refusing bombs and broken files."""
    import io
    import warnings

    from PIL import Image

    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                if image.format != kind.upper():
                    raise BadContent("the image data does not match its format")
                width, height = image.size
                if width * height > max_pixels:
                    raise BadContent("the image dimensions exceed the configured limit")
                image.verify()
    except BadContent:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise BadContent("the image dimensions exceed the configured limit") from None
    except Exception:  # noqa: BLE001 - Pillow raises many types for broken files
        raise BadContent("the image data is corrupt or truncated") from None
    return width, height


def _labels(bucket: str, job_id: str, key: str, data: bytes, *, width: int, height: int
            ) -> list[dict[str, Any]]:
    """Labels for the browser image; a downscaled copy when Rekognition could not take it."""
    from opsfn.routes.imaging import labels
    from opsfn.services import aws

    settings = ImagingSettings.current()
    if labels.too_small(width, height):
        return []
    if labels.needs_copy(len(data), width, height, settings.imaging_label_max_side):
        try:
            copy = labels.downscale_jpeg(data, settings.imaging_label_max_side,
                                         settings.imaging_max_frame_pixels)
        except Exception:  # noqa: BLE001 - a decoder failure means the image is broken
            raise BadContent("the image data is corrupt or truncated") from None
        key = converted_key(job_id, "labels.jpg")
        aws.client("s3").put_object(Bucket=bucket, Key=key, Body=copy, ContentType="image/jpeg")
    try:
        return labels.detect(bucket, key, max_labels=settings.imaging_max_labels,
                             min_confidence=settings.imaging_min_confidence)
    except Exception as exc:
        if _client_error_code(exc) in REKOGNITION_CONTENT_ERRORS:
            raise BadContent("the image could not be analysed") from None
        raise


def process(bucket: str, job_id: str) -> Outcome:
    """Everything one upload needs, in order; raises BadContent for unusable uploads."""
    from opsfn.routes.imaging.sniff import sniff
    from opsfn.services import aws

    settings = ImagingSettings.current()
    data = _read_object(bucket, f"uploads/{job_id}/original", settings.imaging_max_upload_bytes)
    kind = sniff(data[:512])
    if kind is None:
        raise BadContent("the file is not a JPEG, PNG or DICOM image")
    if kind == "dicom":
        from opsfn.routes.imaging.render import BadDicom, Limits, render_dicom

        try:
            rendered = render_dicom(data, Limits(settings.imaging_max_pixel_bytes,
                                                 settings.imaging_max_frame_pixels))
        except BadDicom as exc:
            raise BadContent(str(exc)) from None
        del data
        image_key = converted_key(job_id)
        aws.client("s3").put_object(Bucket=bucket, Key=image_key, Body=rendered.png,
                                    ContentType="image/png")
        found = _labels(bucket, job_id, image_key, rendered.png, width=rendered.width,
                        height=rendered.height)
        metadata = {**rendered.metadata, "width": rendered.width, "height": rendered.height}
        return Outcome(kind, image_key, found, metadata)
    width, height = _image_size(data, kind, settings.imaging_max_frame_pixels)
    image_key = f"uploads/{job_id}/original"
    found = _labels(bucket, job_id, image_key, data, width=width, height=height)
    return Outcome(kind, image_key, found, {"format": kind, "width": width, "height": height})


@router.s3(bucket=setting("UPLOAD_BUCKET"), prefix="uploads/", events=("ObjectCreated:*",))
def on_upload(obj: S3Object, context: Context) -> None:
    """Process one uploaded object exactly once per job, whatever the delivery count."""
    from opsfn.routes.imaging import jobs

    job_id = job_id_from_key(obj.key)
    lease_s = min(900.0, max(60.0, context.remaining_ms() / 1000 + 30))
    state = jobs.claim(job_id, lease_s)
    if state == "missing":
        raise NotFound("no job exists for this upload")
    if state != "claimed":
        context.logger.info("duplicate upload event ignored", extra={"job_id": job_id,
                                                                     "state": state})
        return
    try:
        outcome = process(obj.bucket, job_id)
    except BadContent as exc:
        jobs.fail(job_id, exc.reason, retryable=False)
        context.logger.info("upload rejected", extra={"job_id": job_id, "reason": exc.reason})
        return
    except Exception as exc:
        jobs.fail(job_id, RETRY_REASON, retryable=True)
        context.logger.warning("upload processing failed", extra={
            "job_id": job_id, "error_type": type(exc).__name__,
            "error": exc.code if isinstance(exc, OpsfnError) else _client_error_code(exc)})
        raise
    if not jobs.complete(job_id, results={"labels": outcome.labels}, metadata=outcome.metadata,
                         image_key=outcome.image_key, kind=outcome.kind):
        # Our lease ran out and another delivery took the job over; its result will stand.
        context.logger.warning("job was taken over before it completed", extra={"job_id": job_id})
        return
    context.logger.info("upload processed", extra={"job_id": job_id, "kind": outcome.kind,
                                                   "labels": len(outcome.labels)})
