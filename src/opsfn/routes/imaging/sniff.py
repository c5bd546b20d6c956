"""What an upload really is, from its bytes: the name and the declared type are only claims."""

from __future__ import annotations

from typing import Literal

Kind = Literal["dicom", "png", "jpeg"]

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"

# Group numbers a dataset without preamble starts with (little or big endian): the file meta
# group (0002) or the first groups of a plain dataset (0008 identifying, 0010 patient...).
_FIRST_GROUPS = (0x0002, 0x0008)
_EXPLICIT_VRS = frozenset(
    vr.encode() for vr in (
        "AE", "AS", "AT", "CS", "DA", "DS", "DT", "FL", "FD", "IS", "LO", "LT", "OB", "OD", "OF",
        "OL", "OV", "OW", "PN", "SH", "SL", "SQ", "SS", "ST", "SV", "TM", "UC", "UI", "UL", "UN",
        "UR", "US", "UT", "UV",
    )
)


def _looks_like_dataset(head: bytes) -> bool:
    """A DICOM dataset without the 128-byte preamble and ``DICM``: a plausible first element."""
    if len(head) < 8:
        return False
    for order in ("little", "big"):
        group = int.from_bytes(head[0:2], order)
        element = int.from_bytes(head[2:4], order)
        if group not in _FIRST_GROUPS or element > 0x0020:
            continue
        if head[4:6] in _EXPLICIT_VRS:
            return True
        length = int.from_bytes(head[4:8], order)
        if length < 0x10000:  # implicit VR: a small element length follows the tag
            return True
    return False


def sniff(head: bytes) -> Kind | None:
    """The kind of image ``head`` (the first few hundred bytes) starts, or None."""
    if len(head) >= 132 and head[128:132] == b"DICM":
        return "dicom"
    if head.startswith(PNG_MAGIC):
        return "png"
    if head.startswith(JPEG_MAGIC):
        return "jpeg"
    if _looks_like_dataset(head):
        return "dicom"
    return None
