"""The image-analysis pipeline: bounded browser uploads, DICOM to PNG, Rekognition labels.

Replaces the image analysis backend's three functions: Generate Upload URL
(``lambda1-generate-upload-url``), Process Image (``lambda2-process-image``) and Get Results
(``lambda3-get-results``). Public routes: ``POST /request-upload`` (creates a job and a presigned
POST), the S3 ``ObjectCreated`` route on ``UPLOAD_BUCKET`` under ``uploads/`` (processes the
upload) and ``GET /get-results?jobId=`` (reads the job).

``router`` joins the three modules' routes and is built on first access, so that the handler
(which registers routes from the manifest) can import one of the modules without the others.
"""

from __future__ import annotations

from opsfn.lazy import attributes

__all__ = ["router"]

__getattr__, __dir__ = attributes(globals(), {"router": "opsfn.routes.imaging.routes:router"})
