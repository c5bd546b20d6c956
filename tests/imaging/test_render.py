"""DICOM rendering: DCMTK's arithmetic as pure functions, guards before decoding, and the output
compared pixel for pixel with dcm2pnm on pydicom's test files and on variants of them."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opsfn.routes.imaging.render import BadDicom, Limits, colour, grey, png, render_dicom
from tests.imaging import dcmtk_reference as dcmtk
from tests.imaging.conftest import dicom_bytes, dicom_dir

needs_dcmtk = pytest.mark.skipif(not dcmtk.available(), reason="dcm2pnm (Debian dcmtk) not installed")


def decode_png(data: bytes) -> Any:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        return np.asarray(image).copy()


# -- pure functions --------------------------------------------------------------------------
def test_linear_window_uses_dcmtk_truncation_and_borders() -> None:
    values = np.array([-10, 0, 1, 40, 99, 100, 500])
    out = grey.linear_window(values, center=50, width=100, low=0, high=255)
    # borders: x <= 0 -> 0, x > 99 -> 255; inside: trunc(offset + x * 255/99)
    offset = 255 - ((50 - 0.5) / 99 + 0.5) * 255
    assert out.tolist() == [0, 0, int(offset + 255 / 99), int(offset + 40 * 255 / 99), 255, 255, 255]


def test_inversion_happens_inside_the_window_function() -> None:
    values = np.arange(0, 100)
    normal = grey.linear_window(values, 50, 100, 0, 255).astype(int)
    inverted = grey.linear_window(values, 50, 100, 255, 0).astype(int)
    assert (inverted != 255 - normal).any()  # truncating after inverting differs
    assert np.abs(inverted - (255 - normal)).max() == 1


def test_minmax_window_spans_exactly_the_range() -> None:
    center, width = grey.minmax_window(-1024, 3071)
    out = grey.linear_window(np.array([-1024, 3071]), center, width, 0, 255)
    assert out.tolist() == [0, 255]


def test_rescale_truncates_toward_zero() -> None:
    params = grey.GreyParams(bits_stored=12, signed=True, slope=0.5, intercept=-0.25)
    stored = np.array([-3, -1, 0, 1, 3])
    assert grey.modality(stored, params).tolist() == [-1, 0, 0, 0, 1]


def test_modality_lut_clamps_to_its_ends() -> None:
    lut = grey.Lut(first=10, bits=16, data=np.array([100, 200, 300]))
    params = grey.GreyParams(bits_stored=8, signed=False, modality_lut=lut)
    assert grey.modality(np.array([0, 10, 11, 12, 99]), params).tolist() == [100, 100, 200, 300, 300]


def test_container_values_mask_and_sign_extend() -> None:
    values = grey.container_values(16, 12, signed=True)
    assert values[0x0FFF] == -1 and values[0x07FF] == 2047 and values[0x0800] == -2048
    assert values[0xF001] == 1  # unused high bits are ignored
    shifted = grey.container_values(16, 8, signed=False, shift=4)
    assert shifted[0x0FF0] == 255 and shifted[0x000F] == 0


def test_voi_lut_scales_entries_to_the_output_range() -> None:
    lut = grey.Lut(first=0, bits=8, data=np.array([0, 128, 255]))
    out = grey.voi_lut(np.array([-5, 0, 1, 2, 9]), lut, 0, 255)
    assert out.tolist() == [0, 0, 128, 255, 255]


def test_sigmoid_is_centred_and_inverts_inside() -> None:
    out = grey.sigmoid_window(np.array([-1000, 0, 1000]), 0, 100, 0, 255)
    assert out.tolist() == [0, 127, 255]
    inverted = grey.sigmoid_window(np.array([-1000, 0, 1000]), 0, 100, 255, 0)
    assert inverted.tolist() == [255, 127, 0]  # 255 - 127.5 truncates to 127, not 128


def test_ybr_conversion_matches_dcmtk_tables() -> None:
    ybr = np.array([[[76, 85, 255], [128, 128, 128], [0, 255, 0]]], dtype=np.uint8)
    rgb = colour.ybr_full_to_rgb(ybr)
    # blue: 76 + trunc(1.772 * 85 - 0.8859 * 255) = 76 + trunc(-75.28) = 1 (truncation, not floor)
    assert rgb[0, 0].tolist() == [254, 0, 1]
    # green: 128 - trunc(44.04) - trunc(-43.52) = 127: DCMTK truncates each term separately
    assert rgb[0, 1].tolist() == [128, 127, 128]
    direct = colour.ybr_full_to_rgb(ybr, table=False)
    assert np.abs(direct.astype(int) - rgb.astype(int)).max() <= 2


def test_reduce_depth_shifts_like_dcmtk() -> None:
    assert colour.reduce_depth(np.array([0xFFFF, 0x0100, 0x00FF]), 16).tolist() == [255, 1, 0]
    assert colour.reduce_depth(np.array([1, 3]), 2).tolist() == [85, 255]


def test_png_writer_round_trips_through_pillow() -> None:
    image = (np.arange(300 * 7, dtype=np.uint32) % 251).astype(np.uint8).reshape(7, 300)
    data = png.encode(300, 7, png.GREY, png.scanlines(image, block_rows=3))
    assert np.array_equal(decode_png(data), image)
    rgb = np.stack([image, image[::-1], 255 - image], axis=-1)
    assert np.array_equal(decode_png(png.encode(300, 7, png.RGB, png.scanlines(rgb))), rgb)
    with pytest.raises(ValueError):
        png.encode(0, 1, png.GREY, [])


# -- guards -------------------------------------------------------------------------------------
def _modified(name: str, **changes: Any) -> bytes:
    import pydicom

    ds = pydicom.dcmread(io.BytesIO(dicom_bytes(name)))
    for key, value in changes.items():
        if value is None:
            delattr(ds, key)
        else:
            setattr(ds, key, value)
    out = io.BytesIO()
    ds.save_as(out)
    return out.getvalue()


@pytest.mark.parametrize(("changes", "limits", "message"), [
    ({"Rows": 60000, "Columns": 60000}, Limits(), "dimensions exceed"),
    ({"NumberOfFrames": 5000}, Limits(max_pixel_bytes=10 * 1024 * 1024), "declared pixel data"),
    ({}, Limits(max_frame_pixels=100), "dimensions exceed"),
    ({"BitsAllocated": 12}, Limits(), "bit depth"),
    ({"BitsStored": 20}, Limits(), "bit depth"),
    ({"SamplesPerPixel": 3}, Limits(), "photometric"),
    ({"PhotometricInterpretation": "HSV"}, Limits(), "photometric"),
    ({"Rows": 0}, Limits(), "not positive"),
    ({"Rows": None}, Limits(), "Rows is missing"),
])
def test_bad_geometry_is_refused_before_decoding(changes: dict[str, Any], limits: Limits,
                                                 message: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import pydicom.pixels.utils

    def never(*_: Any, **__: Any) -> Any:
        raise AssertionError("decoder called")

    monkeypatch.setattr(pydicom.pixels.utils, "pixel_array", never)
    with pytest.raises(BadDicom, match=message):
        render_dicom(_modified("CT_small.dcm", **changes), limits)


def test_other_broken_inputs() -> None:
    with pytest.raises(BadDicom, match="no pixel data"):
        render_dicom(dicom_bytes("rtplan.dcm"))
    with pytest.raises(BadDicom, match="shorter than its header"):
        render_dicom(dicom_bytes("CT_small.dcm")[:-1000])  # past the trailing padding item
    with pytest.raises(BadDicom, match="not a readable DICOM"):
        render_dicom(b"\x00" * 128 + b"DICM" + b"\x02\x00\x10\x00UI\xff\xff")
    import pydicom
    from pydicom.encaps import encapsulate

    ds = pydicom.dcmread(io.BytesIO(dicom_bytes("MR_small_RLE.dcm")))
    ds.PixelData = encapsulate([b"\x63\x00\x00\x00" + b"\x13" * 400])  # 99 RLE segments
    out = io.BytesIO()
    ds.save_as(out)
    with pytest.raises(BadDicom, match="could not be decoded"):
        render_dicom(out.getvalue())


def test_metadata_holds_no_identifying_attributes() -> None:
    rendered = render_dicom(dicom_bytes("MR_small.dcm"))
    assert set(rendered.metadata) == {"modality", "rows", "columns", "frames", "samplesPerPixel",
                                      "bitsAllocated", "bitsStored", "photometricInterpretation",
                                      "transferSyntax", "window"}
    assert rendered.metadata["window"]["mode"] == "linear"


def test_cli_renders_and_reports_errors(tmp_path: Path) -> None:
    from opsfn.tooling.cli import main

    out = tmp_path / "out.png"
    assert main(["dicom2png", str(dicom_dir() / "CT_small.dcm"), str(out)]) == 0
    assert decode_png(out.read_bytes()).shape == (128, 128)
    assert main(["dicom2png", str(dicom_dir() / "rtplan.dcm"), str(out)]) == 1
    assert main(["dicom2png", str(tmp_path / "missing.dcm"), str(out)]) == 1


# -- against dcm2pnm ----------------------------------------------------------------------------
# Every file pydicom can give offline (its own test files and the pydicom-data store). Files DCMTK
# cannot read (JPEG 2000, 32-bit colour, a corrupt header element in SC_rgb_jpeg.dcm) must still
# render; files neither tool can render (truncated or corrupt streams, pixel data without an image
# module) must fail with BadDicom, not crash; every file DCMTK renders renders here, identically.
UNREADABLE_BY_BOTH = {"MR_truncated.dcm", "JPEG2000-embedded-sequence-delimiter.dcm",
                      "meta_missing_tsyntax.dcm", "nested_priv_SQ.dcm",
                      "emri_small_jpeg_2k_lossless_too_short.dcm"}


def _pixel_files() -> dict[str, Path]:
    import warnings

    import pydicom

    found = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for path in dcmtk.sample_files():
            try:
                ds = pydicom.dcmread(path, force=True, stop_before_pixels=False, defer_size=1024)
            except Exception:  # unreadable files are covered elsewhere
                continue
            if "PixelData" in ds:
                found[path.name] = path
    return found


PIXEL_FILES = _pixel_files()


def test_the_offline_test_set_is_there() -> None:
    """pydicom's own files and the pydicom-data store (the issue's files among them)."""
    assert len(PIXEL_FILES) >= 110
    assert {"OT-PAL-8-face.dcm", "JPEG-lossy.dcm", "OBXXXX1A_expb.dcm", "JPGExtended.dcm"} <= \
        set(PIXEL_FILES)


@needs_dcmtk
@pytest.mark.parametrize("name", sorted(PIXEL_FILES))
def test_matches_dcm2pnm(name: str) -> None:
    path = PIXEL_FILES[name]
    reference = dcmtk.render_reference(path)
    if name in UNREADABLE_BY_BOTH:
        with pytest.raises(BadDicom):
            render_dicom(path.read_bytes())
        assert reference is None
        return
    rendered = render_dicom(path.read_bytes())
    ours = decode_png(rendered.png)
    if reference is None:  # DCMTK cannot read it; the rendering must still be whole
        assert ours.shape[:2] == (rendered.height, rendered.width)
        assert ours.std() > 0
        return
    verdict, diff = dcmtk.compare(ours, reference)
    assert verdict == "identical", diff


def _native_files() -> list[str]:
    return sorted(name for name, path in PIXEL_FILES.items() if dcmtk.is_native_image(path))


# DCMTK's own re-encodings of a spread of uncompressed files (the bench runs every one): grey 8,
# 16 and 32 bits, signed, palette, RGB, YBR, 1-bit and multi-frame.
VARIANT_SOURCES = ["CT_small.dcm", "MR_small.dcm", "OBXXXX1A.dcm", "OT-PAL-8-face.dcm",
                   "SC_rgb_small_odd.dcm", "SC_ybr_full_422_uncompressed.dcm", "rtdose_1frame.dcm",
                   "liver_1frame.dcm", "SC_rgb_16bit_2frame.dcm", "vlut_04.dcm"]


def test_variant_sources_are_uncompressed() -> None:
    assert set(VARIANT_SOURCES) <= set(_native_files())


@needs_dcmtk
@pytest.mark.parametrize("variant", sorted(dcmtk.VARIANTS))
@pytest.mark.parametrize("name", VARIANT_SOURCES)
def test_dcmtk_reencodings_match_dcm2pnm(name: str, variant: str, tmp_path: Path) -> None:
    """Big endian (OW words swapped, 8-bit pairs, 32-bit as two words), implicit VR, deflate, and
    bare datasets without preamble or file meta: the same pixels, the same rendering."""
    out = tmp_path / "variant.dcm"
    assert dcmtk.make_variant(PIXEL_FILES[name], variant, out)
    reference = dcmtk.render_reference(out)
    assert reference is not None
    verdict, diff = dcmtk.compare(decode_png(render_dicom(out.read_bytes()).png), reference)
    assert verdict == "identical", diff


def test_big_endian_ow_words_are_swapped_whatever_the_sample_size() -> None:
    """PS3.5 section 8: big-endian OW pixel data is 16-bit words; OB is bytes in order."""
    import pydicom

    from opsfn.routes.imaging.render.dicom import little_endian_pixels

    for vr, raw, expected in [("OW", b"\x02\x01\x04\x03", b"\x01\x02\x03\x04"),
                              ("OB", b"\x02\x01\x04\x03", b"\x02\x01\x04\x03"),
                              ("OW", b"\x0e\xe8\x00\x13", b"\xe8\x0e\x13\x00")]:
        ds = pydicom.Dataset()
        ds.file_meta = pydicom.dataset.FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRBigEndian
        ds.add_new(0x7FE00010, vr, raw)
        little_endian_pixels(ds)
        assert ds.PixelData == expected
        assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian


def test_file_without_preamble_or_meta_gets_the_syntax_it_was_read_with() -> None:
    from opsfn.routes.imaging.render.dicom import read_dataset

    ds = read_dataset(PIXEL_FILES["OT-PAL-8-face.dcm"].read_bytes())
    assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2"
    rendered = render_dicom(PIXEL_FILES["OT-PAL-8-face.dcm"].read_bytes())
    assert rendered.metadata["photometricInterpretation"] == "PALETTE COLOR"
    assert rendered.metadata["transferSyntax"] == "Implicit VR Little Endian"


def test_twelve_bit_jpeg_extended_is_read_by_gdcm_first() -> None:
    from opsfn.routes.imaging.render import gdcm_plugin

    assert gdcm_plugin.is_available(gdcm_plugin.JPEG_EXTENDED)
    order = gdcm_plugin.decode_order(gdcm_plugin.JPEG_EXTENDED)
    assert order[0] == gdcm_plugin.PLUGIN
    # everywhere else GDCM only reads what the decoders used before cannot
    assert gdcm_plugin.decode_order("1.2.840.10008.1.2.4.50")[-1] == "gdcm"
    assert gdcm_plugin.decode_order("1.2.840.10008.1.2.4.90")[:2] == ["pylibjpeg", "pillow"]
    assert gdcm_plugin.decode_order("1.2.840.10008.1.2.1") == [""]
    assert render_dicom(PIXEL_FILES["JPEG-lossy.dcm"].read_bytes()).metadata["bitsStored"] == 12


VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "monochrome1-window": ("CT_small.dcm", {"PhotometricInterpretation": "MONOCHROME1",
                                             "WindowCenter": 40.3, "WindowWidth": 351.7}),
    "monochrome1-minmax": ("MR_small.dcm", {"PhotometricInterpretation": "MONOCHROME1",
                                             "WindowCenter": None, "WindowWidth": None}),
    "fractional-rescale": ("CT_small.dcm", {"RescaleSlope": 0.37, "RescaleIntercept": -7.5}),
    "negative-slope": ("CT_small.dcm", {"RescaleSlope": -1.5, "RescaleIntercept": 100}),
    "xa-ignores-rescale": ("CT_small.dcm", {"SOPClassUID": "1.2.840.10008.5.1.4.1.1.12.1",
                                             "Modality": "XA", "RescaleSlope": 2,
                                             "RescaleIntercept": -5000}),
    "xa-modality-attribute-still-rescales": ("CT_small.dcm", {"Modality": "XA", "RescaleSlope": 2,
                                           "RescaleIntercept": -5000}),
    "sigmoid": ("MR_small.dcm", {"VOILUTFunction": "SIGMOID"}),
    "monochrome1-sigmoid": ("MR_small.dcm", {"VOILUTFunction": "SIGMOID",
                                             "PhotometricInterpretation": "MONOCHROME1"}),
    "first-of-several-windows": ("CT_small.dcm", {"WindowCenter": [40, 400],
                                                   "WindowWidth": [350, 2000]}),
    "narrow-window": ("MR_small.dcm", {"WindowCenter": 600.5, "WindowWidth": 2}),
    "inverse-shape": ("CT_small.dcm", {"PresentationLUTShape": "INVERSE",
                                        "WindowCenter": 0, "WindowWidth": 1000}),
}


def _voi_lut_variant(photometric: str = "MONOCHROME2") -> bytes:
    import pydicom
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    ds = pydicom.dcmread(io.BytesIO(dicom_bytes("MR_small.dcm")))
    del ds.WindowCenter
    del ds.WindowWidth
    item = Dataset()
    item.LUTDescriptor = [1024, 100, 12]
    table = [min(4095, int(4 * i + (i * i) / 300)) for i in range(1024)]
    item.add_new(0x00283006, "OW", np.array(table, dtype="<u2").tobytes())
    ds.VOILUTSequence = Sequence([item])
    ds.PhotometricInterpretation = photometric
    out = io.BytesIO()
    ds.save_as(out)
    return out.getvalue()


def _modality_lut_variant() -> bytes:
    import pydicom
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    ds = pydicom.dcmread(io.BytesIO(dicom_bytes("MR_small.dcm")))
    del ds.WindowCenter
    del ds.WindowWidth
    item = Dataset()
    item.LUTDescriptor = [2048, 0, 16]
    table = [(i * 7) % 3000 for i in range(2048)]
    item.add_new(0x00283006, "OW", np.array(table, dtype="<u2").tobytes())
    item.ModalityLUTType = "US"
    ds.ModalityLUTSequence = Sequence([item])
    out = io.BytesIO()
    ds.save_as(out)
    return out.getvalue()


@needs_dcmtk
@pytest.mark.parametrize("variant", [*VARIANTS, "voi-lut", "monochrome1-voi-lut", "modality-lut"])
def test_variants_match_dcm2pnm(variant: str, tmp_path: Path) -> None:
    if variant == "voi-lut":
        data = _voi_lut_variant()
    elif variant == "monochrome1-voi-lut":
        data = _voi_lut_variant("MONOCHROME1")
    elif variant == "modality-lut":
        data = _modality_lut_variant()
    else:
        name, changes = VARIANTS[variant]
        data = _modified(name, **changes)
    path = tmp_path / "variant.dcm"
    path.write_bytes(data)
    reference = dcmtk.render_reference(path)
    assert reference is not None
    verdict, diff = dcmtk.compare(decode_png(render_dicom(data).png), reference)
    assert verdict == "identical", diff


def test_malformed_lookup_tables_are_bad_content() -> None:
    import pydicom
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    ds = pydicom.dcmread(io.BytesIO(dicom_bytes("MR_small.dcm")))
    del ds.WindowCenter
    del ds.WindowWidth
    ds.VOILUTSequence = Sequence([Dataset()])  # no descriptor, no data
    out = io.BytesIO()
    ds.save_as(out)
    with pytest.raises(BadDicom, match="lookup table"):
        render_dicom(out.getvalue())


@settings(max_examples=60, deadline=None)
@given(bits_stored=st.integers(2, 16), signed=st.booleans(),
       slope=st.sampled_from([1.0, 0.5, 2.0, -1.0, 0.37]),
       intercept=st.sampled_from([0.0, -1024.0, 7.5, -0.25]),
       voi=st.sampled_from(["window", "minmax"]), invert=st.booleans(),
       center=st.floats(-2000, 2000), width=st.floats(1, 5000), seed=st.integers(0, 2**16))
def test_table_lookup_equals_per_pixel_evaluation(bits_stored: int, signed: bool, slope: float,
                                                  intercept: float, voi: str, invert: bool,
                                                  center: float, width: float, seed: int) -> None:
    """The 64K-entry table indexed by raw words gives what evaluating every pixel would."""
    params = grey.GreyParams(bits_stored=bits_stored, signed=signed, slope=slope,
                             intercept=intercept, voi=voi,  # type: ignore[arg-type]
                             center=center, width=width, invert=invert)
    lo, hi = grey.stored_range(bits_stored, signed)
    stored = np.random.default_rng(seed).integers(lo, hi + 1, size=(7, 9))
    raw = (stored & ((1 << bits_stored) - 1)).astype(np.uint16)  # two's complement in the word
    histogram = np.bincount(raw.ravel(), minlength=1 << 16)
    via_table = grey.container_lut(16, params, 0, histogram)[raw]
    direct = grey.render_values(stored, params)
    assert np.array_equal(via_table, direct)
