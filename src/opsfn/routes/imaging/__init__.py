"""The image-analysis pipeline: bounded browser uploads, DICOM to PNG, Rekognition labels.

``POST /request-upload`` creates a job and a presigned POST; the S3 ``ObjectCreated`` route on
``uploads/`` processes the upload; ``GET /get-results`` reads the job. One router for all three.
"""

from __future__ import annotations

from opsfn.router import Router
from opsfn.routes.imaging import processing, results, uploads

router = Router()
for _part in (uploads.router, processing.router, results.router):
    router.routes.extend(_part.routes)

__all__ = ["router"]
