"""The imaging domain's router: the upload, processing and results routes, in that order."""

from __future__ import annotations

from opsfn import Router
from opsfn.routes.imaging import processing, results, uploads

__all__ = ["router"]

router = Router()
for _part in (uploads.router, processing.router, results.router):
    router.routes.extend(_part.routes)
