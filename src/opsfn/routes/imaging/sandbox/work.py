"""The decoding one upload needs, as a pure function: bytes and a Job in, a Decoded out.

This is what runs inside the sandbox child (and in process only when ``IMAGING_SANDBOX=inline``
is chosen for debugging): DICOM to PNG, JPEG/PNG header and integrity checks, and the downscaled
JPEG copy Rekognition reads when the image is too large for it. Every reason it gives is one of
a few fixed sentences or a ``BadDicom`` message, none of which quote the file.
"""

from __future__ import annotations

import io
import warnings

from opsfn.routes.imaging import labels
from opsfn.routes.imaging.render import BadDicom, Limits
from opsfn.routes.imaging.render.dicom import render_chunks
from opsfn.routes.imaging.sandbox.protocol import (
    CORRUPT,
    FAILED,
    TOO_LARGE,
    TOO_MANY_PIXELS,
    UNDECODABLE_DICOM,
    Decoded,
    Job,
)

# The job and its answer live in ``protocol``: the parent imports this module only when inline.
__all__ = ["CORRUPT", "FAILED", "TOO_LARGE", "TOO_MANY_PIXELS", "UNDECODABLE_DICOM", "Decoded", "Job",
           "Unusable", "image_size", "run"]


class Unusable(Exception):
    """The upload cannot be decoded; ``reason`` is safe to store, log and show."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def image_size(data: bytes, kind: str, max_pixels: int) -> tuple[int, int]:
    """Width and height of a JPEG/PNG, refusing bombs and broken files (Pillow verifies it)."""
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                if image.format != kind.upper():
                    raise Unusable("the image data does not match its format")
                width, height = image.size
                if width * height > max_pixels:
                    raise Unusable(TOO_MANY_PIXELS)
                image.verify()
    except Unusable:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise Unusable(TOO_MANY_PIXELS) from None
    except MemoryError:
        raise Unusable(TOO_LARGE) from None
    except Exception:  # noqa: BLE001 - Pillow raises many types for broken files
        raise Unusable(CORRUPT) from None
    return width, height


def _label_copy(parts: list[bytes], width: int, height: int, job: Job) -> bytes | None:
    """The JPEG copy Rekognition reads when it cannot take the image (given in pieces) itself,
    else None. The pieces are joined, in place, only when a copy is made."""
    side = job.label_max_side
    if side is None or labels.too_small(width, height):
        return None
    if not labels.needs_copy(sum(len(part) for part in parts), width, height, side):
        return None
    if len(parts) > 1:
        parts[:] = [b"".join(parts)]
    try:
        return labels.downscale_jpeg(parts[0], side, job.max_frame_pixels)
    except Exception:  # noqa: BLE001 - a decoder failure means the image is broken
        raise Unusable(CORRUPT) from None


def _dicom(data: bytes, job: Job) -> Decoded:
    try:
        chunks, width, height, info = render_chunks(data, Limits(job.max_pixel_bytes,
                                                                 job.max_frame_pixels))
        parts = list(chunks)  # decoding happens here; kept in pieces to spare a copy
    except BadDicom as exc:
        raise Unusable(str(exc)) from None
    except MemoryError:
        raise Unusable(TOO_LARGE) from None
    except Exception:  # noqa: BLE001 - pydicom raises anything on hostile files
        raise Unusable(UNDECODABLE_DICOM) from None
    metadata = {**info, "width": width, "height": height}
    copy = _label_copy(parts, width, height, job)
    return Decoded(width, height, metadata, image_parts=parts, label_copy=copy)


def run(data: bytes, job: Job) -> Decoded:
    """Decode one upload as ``job`` says; Unusable with a safe reason when it cannot be."""
    if job.kind == "dicom":
        return _dicom(data, job)
    width, height = image_size(data, job.kind, job.max_frame_pixels)
    metadata = {"format": job.kind, "width": width, "height": height}
    return Decoded(width, height, metadata, label_copy=_label_copy([data], width, height, job))
