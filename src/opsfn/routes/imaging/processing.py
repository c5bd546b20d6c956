"""S3 ``ObjectCreated`` on ``uploads/``: size check, sniff, decode in the sandbox, label, finish.

At-least-once delivery is expected: the job is claimed with a conditional update first, so a
repeated event for a job that is processing or done changes nothing and calls nothing. The
object's size is read (HEAD) before anything else: a presigned PUT without a declared size cannot
be bounded by S3, so an object over ``IMAGING_MAX_UPLOAD_BYTES`` is deleted and its job fails.
What can never work (not an image, broken DICOM, too large, the object gone) ends the job as
``error`` for good and the record succeeds; anything else (AWS errors, crashes) puts the job back
to ``pending`` and re-raises, so the event is retried and alarms see it. Only ``converted/...``
keys are written, which the route's ``uploads/`` prefix never matches.
The uploaded bytes are decoded only in a sandbox child (``sandbox.client``) that holds no AWS
credentials; whatever fails there refuses the upload (``InvalidContent``) for good.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

from opsfn import Context, Router, setting
from opsfn.access import ANY, allow, bucket, objects, table
from opsfn.aws_errors import error_code, from_aws_error, kind_of
from opsfn.errors import InvalidContent, NotFound, OpsfnError, UpstreamError, ValidationFailed
from opsfn.events.s3 import S3Object
from opsfn.routes.imaging import jobs, labels
from opsfn.routes.imaging.sandbox.protocol import Decoded, Job
from opsfn.routes.imaging.settings import ImagingSettings
from opsfn.routes.imaging.sniff import sniff
from opsfn.services import aws

router = Router()

_KEY = re.compile(
    r"uploads/([0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12})/original"
)
RETRY_REASON = "temporary processing error; the upload will be retried"
FAILED_REASON = "the upload could not be processed"
GONE_REASON = "the upload no longer exists (it was deleted or has expired)"
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
    message: str | None = None

    def results(self) -> dict[str, Any]:
        """``results`` as pages read it: DetectLabels' ``Labels``, and ``message`` when there
        are none for a known reason."""
        found: dict[str, Any] = {"Labels": self.labels}
        if self.message:
            found["message"] = self.message
        return found


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


def _is_permanent(exc: Exception) -> bool:
    """Whether the failure will be parked rather than retried (the AWS error table decides)."""
    error = exc if isinstance(exc, OpsfnError) else from_aws_error(exc)
    return error is not None and error.permanent


def _client_error_code(exc: Exception) -> str | None:
    return error_code(exc) or None


def _missing(exc: Exception) -> bool:
    """The object is not there (S3's HEAD answers a bare 404 without a body)."""
    return kind_of(exc) == "not_found"


def _too_large(max_bytes: int) -> BadContent:
    return BadContent(f"the file is larger than the upload limit of {max_bytes} bytes")


def object_size(bucket: str, key: str) -> int | None:
    """The object's size from a HEAD, or None when it does not exist."""
    try:
        return int(aws.client("s3").head_object(Bucket=bucket, Key=key).get("ContentLength", 0))
    except Exception as exc:
        if _missing(exc):
            return None
        raise


def check_size(bucket: str, key: str, max_bytes: int) -> int:
    """The upload's size, read before anything else: an object over the limit is deleted and
    refused, a vanished one is refused for good."""
    size = object_size(bucket, key)
    if size is None:
        raise BadContent(GONE_REASON)
    if size > max_bytes:
        aws.client("s3").delete_object(Bucket=bucket, Key=key)
        raise _too_large(max_bytes)
    if size == 0:
        raise BadContent("the file is empty")
    return size


def _read_object(bucket: str, key: str, max_bytes: int) -> bytes:
    s3 = aws.client("s3")
    try:
        reply = s3.get_object(Bucket=bucket, Key=key)
    except Exception as exc:
        if _missing(exc):
            raise BadContent(GONE_REASON) from None
        raise
    if int(reply.get("ContentLength", 0)) > max_bytes:  # replaced by a bigger PUT since the HEAD
        reply["Body"].close()
        s3.delete_object(Bucket=bucket, Key=key)
        raise _too_large(max_bytes)
    data: bytes = reply["Body"].read()
    if not data:
        raise BadContent("the file is empty")
    return data


def _labels(bucket: str, job_id: str, key: str, decoded: Decoded, *, kind: str
            ) -> tuple[list[dict[str, Any]], str | None]:
    """Labels for the browser image (from the sandbox's downscaled copy when Rekognition could
    not take it), and the message that says why there are none when the reason is known."""
    settings = ImagingSettings.current()
    if labels.too_small(decoded.width, decoded.height):
        return [], labels.TOO_SMALL_MESSAGE
    if decoded.label_copy is not None:
        key = converted_key(job_id, "labels.jpg")
        aws.client("s3").put_object(Bucket=bucket, Key=key, Body=decoded.label_copy,
                                    ContentType="image/jpeg")
    try:
        found = labels.detect(bucket, key, max_labels=settings.imaging_max_labels,
                              min_confidence=settings.imaging_min_confidence)
    except Exception as exc:
        code = _client_error_code(exc)
        if code in REKOGNITION_CONTENT_ERRORS:
            if kind == "dicom":  # the rendering itself is fine and worth showing
                return [], labels.DICOM_REFUSED_MESSAGE
            raise BadContent("the image could not be analysed") from None
        if code == "InvalidS3ObjectException":
            if object_size(bucket, key) is None:
                raise BadContent(GONE_REASON) from None  # deleted while it was being labelled
            # still there: Rekognition's trouble reading it (a key policy, a replica lagging)
            raise UpstreamError("Rekognition could not read the upload") from None
        raise
    if not found:
        return [], labels.none_found_message(settings.imaging_min_confidence)
    return found, None


# Kept for what an upload needs after its decode (the PNG written, the labels, the job row):
# 10 s, or a quarter of the time left when that is less.
AFTER_DECODE_S = 10.0


def process(bucket: str, job_id: str, remaining_s: float | None = None) -> Outcome:
    """Everything one upload needs, in order; raises BadContent for unusable uploads.

    ``remaining_s``: the invocation's time left, which bounds the decode too.
    """
    from opsfn.routes.imaging.sandbox import client

    started = time.monotonic()
    settings = ImagingSettings.current()
    key = f"uploads/{job_id}/original"
    client.start_spare()  # its imports overlap the HEAD and GET below
    check_size(bucket, key, settings.imaging_max_upload_bytes)
    data = _read_object(bucket, key, settings.imaging_max_upload_bytes)
    kind = sniff(data[:512])
    if kind is None:
        raise BadContent("the file is not a JPEG, PNG or DICOM image")
    decoded = client.decode(data, Job(kind, settings.imaging_max_pixel_bytes,
                                      settings.imaging_max_frame_pixels,
                                      settings.imaging_label_max_side),
                            budget_s=None if remaining_s is None
                            else remaining_s - min(AFTER_DECODE_S, remaining_s / 4)
                            - (time.monotonic() - started))
    del data
    image_key = key
    if decoded.image is not None:  # DICOM: the browser gets the rendering
        image_key = converted_key(job_id)
        aws.client("s3").put_object(Bucket=bucket, Key=image_key, Body=decoded.image,
                                    ContentType="image/png")
    found, message = _labels(bucket, job_id, image_key, decoded, kind=kind)
    return Outcome(kind, image_key, found, decoded.metadata, message)


@router.s3(bucket=setting("UPLOAD_BUCKET"), prefix="uploads/", events=("ObjectCreated:*",), access=[
    allow("s3:GetObject", "s3:PutObject", on=[objects("UPLOAD_BUCKET", "uploads/"),
                                              objects("UPLOAD_BUCKET", "converted/")]),
    allow("s3:DeleteObject", on=objects("UPLOAD_BUCKET", "uploads/"),
          why="an upload over the size limit is deleted"),
    allow("s3:ListBucket", on=bucket("UPLOAD_BUCKET"),
          why="without it S3 answers 403, not 404, for an upload that vanished"),
    allow("dynamodb:GetItem", "dynamodb:UpdateItem", on=table("TABLE_NAME")),
    allow("rekognition:DetectLabels", on=ANY, name="RekognitionHasNoResourceLevelPermissions",
          why="Rekognition's DetectLabels has no resource-level permission"),
])
def on_upload(obj: S3Object, context: Context) -> None:
    """Process one uploaded object exactly once per job, whatever the delivery count."""
    job_id = job_id_from_key(obj.key)
    lease_s = min(900.0, max(60.0, context.remaining_ms() / 1000 + 30))
    state = jobs.claim(job_id, lease_s)
    if state == "missing":
        raise NotFound("no job exists for this upload")
    if state != "claimed":
        if state == "done":  # a later PUT to the same URL may have replaced a finished upload
            _discard_oversized(obj.bucket, obj.key)
        context.logger.info("duplicate upload event ignored", extra={"job_id": job_id,
                                                                     "state": state})
        return
    try:
        outcome = process(obj.bucket, job_id, context.remaining_ms() / 1000)
    except (BadContent, InvalidContent) as exc:
        reason = exc.reason if isinstance(exc, BadContent) else exc.message
        jobs.fail(job_id, reason)
        context.logger.info("upload rejected", extra={"job_id": job_id, "reason": reason})
        return
    except Exception as exc:
        if _is_permanent(exc):  # parked, never retried: the page must not wait for a retry
            jobs.fail(job_id, FAILED_REASON)
        else:
            jobs.release(job_id, RETRY_REASON)
        context.logger.warning("upload processing failed", extra={
            "job_id": job_id, "error_type": type(exc).__name__,
            "error": exc.code if isinstance(exc, OpsfnError) else _client_error_code(exc)})
        raise
    if not jobs.complete(job_id, results=outcome.results(), metadata=outcome.metadata,
                         image_key=outcome.image_key, kind=outcome.kind):
        # Our lease ran out and another delivery took the job over; its result will stand.
        context.logger.warning("job was taken over before it completed", extra={"job_id": job_id})
        return
    context.logger.info("upload processed", extra={"job_id": job_id, "kind": outcome.kind,
                                                   "labels": len(outcome.labels)})


def _discard_oversized(bucket: str, key: str) -> None:
    """Delete an object over the upload limit that arrived after its job had finished."""
    try:
        check_size(bucket, key, ImagingSettings.current().imaging_max_upload_bytes)
    except BadContent:
        pass  # gone, empty or now deleted: nothing is left to do
