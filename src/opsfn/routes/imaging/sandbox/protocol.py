"""What the parent and the sandbox child share, without importing each other's side.

The job one upload is given, the ``Decoded`` answer, the fixed sentences a refusal may give, the
byte a child writes when it is ready and the prefix of each child's temporary directory. The
parent (``client``, ``spawn``) imports only this; the decoding itself (``work`` and the render
modules it loads) is imported by the child alone, or in process by ``IMAGING_SANDBOX=inline``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

READY = b"R"
TMPDIR_PREFIX = "opsfn-sandbox-"
CORRUPT = "the image data is corrupt or truncated"
TOO_MANY_PIXELS = "the image dimensions exceed the configured limit"
UNDECODABLE_DICOM = "the DICOM file could not be decoded"
TOO_LARGE = "the image is too large to decode"
FAILED = "the file could not be decoded"
KINDS = ("dicom", "png", "jpeg")


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
