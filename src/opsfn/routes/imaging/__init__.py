"""The image-analysis pipeline: bounded browser uploads, DICOM to PNG, Rekognition labels.

Replaces the image analysis backend's three functions (seed 001): Generate Upload URL
(``lambda1-generate-upload-url``), Process Image (``lambda2-process-image``) and Get Results
(``lambda3-get-results``). Public routes: ``POST /request-upload`` (creates a job and a presigned
POST), the S3 ``ObjectCreated`` route on ``UPLOAD_BUCKET`` under ``uploads/`` (processes the
upload) and ``GET /get-results?jobId=`` (reads the job).

``router`` joins the three modules' routes and is built on first access, so that the handler
(which registers routes from the manifest) can import one of the modules without the others.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opsfn.core.router import Router

__all__ = ["router"]


def _build() -> Router:
    from opsfn.core.router import Router
    from opsfn.routes.imaging import processing, results, uploads

    combined = Router()
    for part in (uploads.router, processing.router, results.router):
        combined.routes.extend(part.routes)
    return combined


def __getattr__(name: str) -> Any:
    if name == "router":
        value = _build()
        globals()["router"] = value
        return value
    raise AttributeError(name)
