"""Content sniffing: the bytes decide, never the name or the declared type."""

from __future__ import annotations

import pytest

from opsfn.routes.imaging.sniff import sniff
from tests.imaging.conftest import dicom_bytes, dicom_dir, jpeg_bytes, png_bytes


def test_real_images() -> None:
    assert sniff(jpeg_bytes()[:512]) == "jpeg"
    assert sniff(png_bytes()[:512]) == "png"
    assert sniff(dicom_bytes("CT_small.dcm")[:512]) == "dicom"


@pytest.mark.parametrize("name", ["ExplVR_LitEndNoMeta.dcm", "ExplVR_BigEndNoMeta.dcm",
                                  "rtstruct.dcm"])
def test_dicom_without_preamble(name: str) -> None:
    assert sniff((dicom_dir() / name).read_bytes()[:512]) == "dicom"


@pytest.mark.parametrize("head", [b"", b"GIF89a" + b"\x00" * 200, b"%PDF-1.7\n" * 30,
                                  b"\x00" * 512, b"<html>" * 40, b"PK\x03\x04" + b"\x00" * 300,
                                  b"\x00" * 128 + b"DICX" + b"\x00" * 10])
def test_anything_else_is_unknown(head: bytes) -> None:
    assert sniff(head) is None
