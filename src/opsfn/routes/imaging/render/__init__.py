"""Pure DICOM rendering: bytes in, PNG bytes and safe metadata out (no AWS, no logging)."""

from opsfn.routes.imaging.render.dicom import BadDicom, Limits, Rendered, render_dicom

__all__ = ["BadDicom", "Limits", "Rendered", "render_dicom"]
