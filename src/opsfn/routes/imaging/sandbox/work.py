"""The decoding one upload needs, as a pure function: bytes and a Job in, a Decoded out.

This is what runs inside the sandbox child (and in process only when ``IMAGING_SANDBOX=inline``
is chosen for debugging): DICOM to PNG, JPEG/PNG header and integrity checks, and the downscaled
JPEG copy Rekognition reads when the image is too large for it. Every reason it gives is one of
a few fixed sentences or a ``BadDicom`` message, none of which quote the file.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

CORRUPT = "the image data is corrupt or truncated"
TOO_MANY_PIXELS = "the image dimensions exceed the configured limit"
UNDECODABLE_DICOM = "the DICOM file could not be decoded"
TOO_LARGE = "the image is too large to decode"
FAILED = "the file could not be decoded"
KINDS = ("dicom", "png", "jpeg")


class Unusable(Exception):
    """The upload cannot be decoded; ``reason`` is safe to store, log and show."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Job:
    """What to do with one upload: its sniffed kind and the limits that apply."""

    kind: str
    max_pixel_bytes: int
    max_frame_pixels: int
    label_max_side: int | None = None  # None: no Rekognition copy (the CLI)

    def to_dict(self) -> dict[str, Any]:
        """The job as a JSON object (the request header)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, value: dict[str, Any]) -> Job:
        """The job from a request header; ValueError when it is malformed."""
        kind, side = value.get("kind"), value.get("label_max_side")
        numbers = (value.get("max_pixel_bytes"), value.get("max_frame_pixels"))
        if kind not in KINDS or not all(isinstance(n, int) and n > 0 for n in numbers):
            raise ValueError("malformed job")
        if side is not None and not (isinstance(side, int) and side > 0):
            raise ValueError("malformed job")
        return cls(str(kind), int(value["max_pixel_bytes"]), int(value["max_frame_pixels"]), side)


@dataclass(slots=True)
class Decoded:
    """The PNG rendering (DICOM only), the Rekognition copy when one is needed, and what may be
    said about the image; plus which process decoded it, for tests and benchmarks."""

    width: int
    height: int
    metadata: dict[str, Any]
    image_parts: list[bytes] = field(default_factory=list)  # the PNG in pieces, never joined twice
    label_copy: bytes | None = None
    decoder_pid: int = 0
    credential_variables: list[str] = field(default_factory=list)
    peak_rss_kib: int = 0
    decoder_limits: dict[str, int] = field(default_factory=dict)

    @property
    def image(self) -> bytes | None:
        """The PNG rendering (DICOM only), in one piece."""
        if not self.image_parts:
            return None
        return self.image_parts[0] if len(self.image_parts) == 1 else b"".join(self.image_parts)


def image_size(data: bytes, kind: str, max_pixels: int) -> tuple[int, int]:
    """Width and height of a JPEG/PNG, refusing bombs and broken files (Pillow verifies it)."""
    import io
    import warnings

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
    from opsfn.routes.imaging import labels

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
    from opsfn.routes.imaging.render import BadDicom, Limits
    from opsfn.routes.imaging.render.dicom import render_chunks

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
