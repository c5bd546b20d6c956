"""``POST /request-upload``: a job item and two ways to upload, a presigned PUT and a bounded POST.

``uploadUrl`` is a SigV4 presigned PUT, what browser pages written for the original function use:
its signature covers ``Content-Type`` (and ``Content-Length`` when the request gave ``fileSize``),
so S3 refuses a PUT of another type (or size). Without ``fileSize`` S3 cannot bound a PUT's size,
so processing reads the object's size first and fails the job, deleting the object, when it is
over ``IMAGING_MAX_UPLOAD_BYTES``. ``uploadPost`` is a presigned POST whose policy fixes the key,
the ``Content-Type`` and a ``content-length-range`` (1 byte to ``IMAGING_MAX_UPLOAD_BYTES``): S3
itself refuses anything bigger, so no oversized object ever exists; opsfn's own page uses it.
The key comes from the jobId alone (``uploads/{jobId}/original``); the user's file name, which can
hold patient data or path tricks, is validated, sanitised and kept only in the job item.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from opsfn import Context, Router
from opsfn.access import allow, objects, table
from opsfn.errors import OpsfnError, ValidationFailed
from opsfn.routes.imaging import jobs
from opsfn.routes.imaging.settings import ImagingSettings
from opsfn.services import lean

router = Router()

ALLOWED_TYPES = ("image/jpeg", "image/png", "application/dicom")
DICOM_SUFFIXES = (".dcm", ".dicom")
GENERIC_TYPES = ("", "application/octet-stream")
MAX_NAME_BYTES = 255
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_UNSAFE = re.compile(r"[^\w.\- ()\[\]+,]", re.UNICODE)


def upload_key(job_id: str) -> str:
    """Where the original upload lives: from the jobId only, never from the file name."""
    return f"uploads/{job_id}/original"


def sanitise_name(name: str) -> str:
    """A display-only form of a validated name: NFC, no characters outside a safe set."""
    cleaned = _UNSAFE.sub("_", unicodedata.normalize("NFC", name)).strip(" .")
    return cleaned or "upload"


def _request_schema(schema: dict[str, Any]) -> None:
    """The validators' rules in the request's JSON Schema (``opsfn openapi`` states them)."""
    from opsfn.routes.imaging.upload_schema import upload_request_schema

    try:  # the deployment's limit, as the route reads it; unreadable, the schema states none
        max_size: int | None = ImagingSettings.current().imaging_max_upload_bytes
    except OpsfnError:
        max_size = None
    upload_request_schema(schema, allowed=ALLOWED_TYPES, generic=GENERIC_TYPES,
                          dicom_suffixes=DICOM_SUFFIXES, control=_CONTROL.pattern,
                          max_name=MAX_NAME_BYTES, max_size=max_size)


class UploadRequest(BaseModel):
    """The browser's request: a file name and the type it claims (its size, optionally)."""

    model_config = ConfigDict(extra="ignore", json_schema_extra=_request_schema)

    # Field names are the wire names so that every error path reads body.fileName etc.
    fileName: str = Field(min_length=1)
    fileType: str = Field(default="", validate_default=True)
    fileSize: int | None = Field(default=None, ge=1)

    @field_validator("fileName")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        if len(value.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
            raise ValueError(f"file name is longer than {MAX_NAME_BYTES} bytes")
        if _CONTROL.search(value):
            raise ValueError("file name contains control characters")
        if "/" in value or "\\" in value:
            raise ValueError("file name contains a path separator")
        if ".." in value:
            raise ValueError("file name contains '..'")
        if not value.strip():
            raise ValueError("file name is blank")
        return value

    @field_validator("fileType")
    @classmethod
    def _known_type(cls, value: str, info: ValidationInfo) -> str:
        value = value.strip().lower()
        if value in GENERIC_TYPES:
            name = info.data.get("fileName")
            if isinstance(name, str) and name.lower().endswith(DICOM_SUFFIXES):
                return "application/dicom"  # browsers often send no type for .dcm files
            raise ValueError("file type is required unless the name ends in .dcm or .dicom")
        if value not in ALLOWED_TYPES:
            raise ValueError(f"file type must be one of {', '.join(ALLOWED_TYPES)}")
        return value


class UploadPost(BaseModel):
    """A presigned POST: send every field, unchanged and in order, then the file as ``file``."""

    url: str
    fields: dict[str, str]


class UploadReply(BaseModel):
    """Everything a page needs to upload: PUT ``uploadUrl`` with ``uploadHeaders`` and the file as
    the body, or POST ``uploadPost`` (a form bounded by S3 itself)."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    job_id: str = Field(alias="jobId")
    upload_url: str = Field(alias="uploadUrl")
    upload_headers: dict[str, str] = Field(alias="uploadHeaders")
    upload_post: UploadPost = Field(alias="uploadPost")
    content_type: str = Field(alias="contentType")
    max_bytes: int = Field(alias="maxBytes")
    expires_in: int = Field(alias="expiresIn")


def presigned_post(bucket: str, key: str, content_type: str, max_bytes: int, expires_in: int
                   ) -> dict[str, Any]:
    """A SigV4 presigned POST whose policy pins the key, the type and the size range."""
    conditions: list[Any] = [{"Content-Type": content_type}, ["content-length-range", 1, max_bytes]]
    return lean.presigned_post(bucket, key, fields={"Content-Type": content_type},
                               conditions=conditions, expires_in=expires_in)


def presigned_put(bucket: str, key: str, content_type: str, size: int | None, expires_in: int
                  ) -> str:
    """A SigV4 presigned PUT whose signed headers are ``Content-Type`` (and ``Content-Length``
    when the size is known): S3 refuses a PUT whose headers differ from the signed values."""
    return lean.presigned_put(bucket, key, headers=put_headers(content_type, size),
                              expires_in=expires_in)


def put_headers(content_type: str, size: int | None) -> dict[str, str]:
    """The headers a PUT to ``uploadUrl`` must carry (browsers set Content-Length themselves)."""
    headers = {"Content-Type": content_type}
    if size is not None:
        headers["Content-Length"] = str(size)
    return headers


@router.post("/request-upload", auth="public", access=[  # the image page has no login
    allow("s3:PutObject", on=objects("UPLOAD_BUCKET", "uploads/")),  # what the upload forms allow
    allow("dynamodb:PutItem", on=table("TABLE_NAME")),
])
def request_upload(body: UploadRequest, context: Context) -> UploadReply:
    """Create a pending job and hand the browser a typed upload slot, as a PUT and a POST."""
    settings = ImagingSettings.current()
    bucket = settings.required("UPLOAD_BUCKET")
    settings.required("TABLE_NAME")
    max_bytes = settings.imaging_max_upload_bytes
    if body.fileSize is not None and body.fileSize > max_bytes:
        raise ValidationFailed("file is too large", details=[{
            "loc": "body.fileSize", "msg": f"must be at most {max_bytes} bytes",
            "type": "too_large"}])
    job_id = str(uuid.uuid4())
    key = upload_key(job_id)
    expires_in = settings.imaging_upload_url_expiry_s
    put_url = presigned_put(bucket, key, body.fileType, body.fileSize, expires_in)
    post = presigned_post(bucket, key, body.fileType, max_bytes, expires_in)
    jobs.create(job_id, file_type=body.fileType, file_name=sanitise_name(body.fileName),
                s3_key=key)
    context.logger.info("upload requested", extra={"job_id": job_id, "file_type": body.fileType})
    return UploadReply(job_id=job_id, upload_url=put_url,
                       upload_headers=put_headers(body.fileType, body.fileSize),
                       upload_post=UploadPost(url=post["url"], fields=post["fields"]),
                       content_type=body.fileType, max_bytes=max_bytes, expires_in=expires_in)
