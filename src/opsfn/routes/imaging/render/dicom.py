"""DICOM bytes to PNG bytes plus non-identifying metadata, rendered like ``dcm2pnm +on -O``.

The dataset is checked before any pixel is decoded: dimensions, bit depths and the declared size
of the decoded pixel data must be sane and under the limits, and uncompressed pixel data must be
as long as its header says. Only the first frame is decoded. Uncompressed greyscale frames are not
even copied: their raw words index the output table directly, block by block into the encoder.
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from opsfn.routes.imaging.render import colour, grey, png
from opsfn.routes.imaging.render.gdcm_plugin import decode_order

# Transfer syntaxes whose pixel data is stored as plain words (after inflating, for deflate).
NATIVE_SYNTAXES = {
    "1.2.840.10008.1.2": "<",
    "1.2.840.10008.1.2.1": "<",
    "1.2.840.10008.1.2.1.99": "<",
    "1.2.840.10008.1.2.2": ">",
}
IMPLICIT_LE, EXPLICIT_LE, EXPLICIT_BE = "1.2.840.10008.1.2", "1.2.840.10008.1.2.1", \
    "1.2.840.10008.1.2.2"
DEFLATED = "1.2.840.10008.1.2.1.99"
# 8-bit lossy JPEG: the JPEG library itself converts YCbCr to RGB, in DCMTK as in Pillow.
JPEG_LOSSY = {"1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51"}
MONOCHROME = {"MONOCHROME1", "MONOCHROME2"}
COLOUR = {"RGB", "YBR_FULL", "YBR_FULL_422", "YBR_RCT", "YBR_ICT", "PALETTE COLOR"}
NO_MODALITY_SOP_CLASSES = {"1.2.840.10008.5.1.4.1.1.12.1", "1.2.840.10008.5.1.4.1.1.12.2",
                           "1.2.840.10008.5.1.4.1.1.12.1.1", "1.2.840.10008.5.1.4.1.1.12.2.1"}
BLOCK_ROWS = 256
DEFER_BYTES = 64 * 1024


class BadDicom(ValueError):
    """The file cannot be rendered; the message is safe to show (it never quotes the data)."""


@dataclass(frozen=True, slots=True)
class Limits:
    """Refuse work before decoding: decoded bytes of all frames, and pixels of one frame."""

    max_pixel_bytes: int = 512 * 1024 * 1024
    max_frame_pixels: int = 64 * 1024 * 1024


@dataclass(slots=True)
class Rendered:
    """The PNG and what may be said about the image without identifying anyone."""

    png: bytes
    width: int
    height: int
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Geometry:
    """The pixel module attributes that size and shape the data."""

    rows: int
    columns: int
    frames: int
    samples: int
    bits_allocated: int
    bits_stored: int
    high_bit: int
    signed: bool
    photometric: str
    transfer_syntax: str


def _int(ds: Any, name: str, default: int | None = None) -> int:
    value = ds.get(name, default)
    if value is None or value == "":
        if default is None:
            raise BadDicom(f"DICOM attribute {name} is missing")
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise BadDicom(f"DICOM attribute {name} is not a number") from None


def _frames(ds: Any) -> int:
    """Number of Frames, read like DCMTK reads an IS: leading digits, 1 when absent or empty."""
    text = str(ds.get("NumberOfFrames", "") or "").strip()
    digits = ""
    for char in text:
        if not char.isdigit():
            break
        digits += char
    return int(digits) if digits else 1


def read_dataset(source: bytes | str | os.PathLike[str] | BinaryIO) -> Any:
    """Parse the dataset, leaving large values (the pixel data) unread; BadDicom when it is not
    DICOM at all. The source must stay available while the dataset is used."""
    from pydicom import dcmread

    stream = io.BytesIO(source) if isinstance(source, bytes | bytearray) else source
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = dcmread(stream, force=True, defer_size=DEFER_BYTES)
    except Exception:  # noqa: BLE001 - pydicom raises many types for broken files
        raise BadDicom("the file is not a readable DICOM dataset") from None
    if len(ds) == 0:  # force=True turns garbage into an empty dataset
        raise BadDicom("the file is not a readable DICOM dataset")
    _settle_transfer_syntax(ds)
    return ds


def _settle_transfer_syntax(ds: Any) -> None:
    """Give a dataset without a Transfer Syntax UID (no preamble or file meta, as older
    writers produce, or meta without the element) the syntax it was actually read with, as
    DCMTK does; the pixel decoders need one."""
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import UID

    meta = getattr(ds, "file_meta", None)
    if meta is not None and str(meta.get("TransferSyntaxUID", "") or ""):
        return
    implicit, little = getattr(ds, "original_encoding", (None, None))
    if implicit is None:
        implicit, little = bool(ds.is_implicit_VR), bool(ds.is_little_endian)
    syntax = IMPLICIT_LE if implicit else EXPLICIT_LE if little is not False else EXPLICIT_BE
    if meta is None:
        meta = ds.file_meta = FileMetaDataset()
    meta.TransferSyntaxUID = UID(syntax)


def geometry(ds: Any, limits: Limits) -> Geometry:
    """Validate the pixel module against the limits, before anything is decoded."""
    if "PixelData" not in ds:
        if "FloatPixelData" in ds or "DoubleFloatPixelData" in ds:
            raise BadDicom("float pixel data is not supported")
        raise BadDicom("the DICOM file has no pixel data")
    syntax = str(ds.file_meta.TransferSyntaxUID)  # settled by read_dataset
    rows, columns = _int(ds, "Rows"), _int(ds, "Columns")
    frames = _frames(ds)
    samples = _int(ds, "SamplesPerPixel", 1)
    allocated = _int(ds, "BitsAllocated")
    stored = _int(ds, "BitsStored", allocated)
    high_bit = _int(ds, "HighBit", stored - 1)
    photometric = str(ds.get("PhotometricInterpretation", "")).strip().upper()
    if rows <= 0 or columns <= 0 or frames <= 0:
        raise BadDicom("image dimensions are not positive")
    if allocated not in (1, 8, 16, 32) or not 1 <= stored <= allocated or high_bit >= allocated:
        raise BadDicom("unsupported bit depth")
    if samples not in (1, 3) or (samples == 1) != (photometric in MONOCHROME | {"PALETTE COLOR"}):
        raise BadDicom("unsupported photometric interpretation")
    if photometric not in MONOCHROME | COLOUR:
        raise BadDicom("unsupported photometric interpretation")
    if rows * columns > limits.max_frame_pixels:
        raise BadDicom("image dimensions exceed the configured limit")
    declared = rows * columns * samples * frames * allocated // 8
    if declared > limits.max_pixel_bytes:
        raise BadDicom("declared pixel data size exceeds the configured limit")
    return Geometry(rows, columns, frames, samples, allocated, stored, high_bit,
                    _int(ds, "PixelRepresentation", 0) == 1, photometric, syntax)


def byte_order(geo: Geometry) -> str:
    """How words stored as OW (pixel data, LUT data) are ordered in this dataset's encoding."""
    return NATIVE_SYNTAXES.get(geo.transfer_syntax, "<")


def _lut(item: Any, signed_first: bool, order: str) -> grey.Lut:
    """A LUT item of a Modality or VOI LUT Sequence; BadDicom when it is malformed."""
    try:
        return _parse_lut(item.LUTDescriptor, item.LUTData, signed_first, order)
    except (AttributeError, TypeError, ValueError, IndexError):
        raise BadDicom("a lookup table in the DICOM file is malformed") from None


def lut_words(data: Any, count: int, order: str) -> Any:
    """The entries of LUT data: raw OW bytes in the dataset's byte order (8-bit entries when
    there is a byte per entry), or the numbers pydicom already read (US/SS)."""
    import numpy as np

    if isinstance(data, bytes | bytearray):
        dtype = f"{order}u2" if len(data) >= 2 * count else "u1"
        return np.frombuffer(data, dtype=dtype)[:count]
    return np.asarray(data)[:count]


def _parse_lut(descriptor: Any, data: Any, signed_first: bool, order: str) -> grey.Lut:
    import numpy as np

    count, first, bits = (int(v) for v in descriptor)
    if not 1 <= bits <= 16:
        raise ValueError("LUT bits")
    count = count or 65536
    if signed_first and first >= 32768:
        first -= 65536
    values = lut_words(data, count, order)
    if values.size == 0:
        raise ValueError("empty LUT")
    return grey.Lut(first, bits, values.astype(np.int64))


def _first(value: Any) -> float:
    from pydicom.multival import MultiValue

    return float(value[0] if isinstance(value, MultiValue | list | tuple) else value)


def grey_params(ds: Any, geo: Geometry) -> grey.GreyParams:
    """The greyscale pipeline for this dataset, chosen like ``dcm2pnm +Wi 1 / +Wl 1 / +Wm``."""
    # DCMTK decides by SOP class (XA/XRF image storage), not by the Modality attribute.
    skip_modality = str(ds.get("SOPClassUID", "")) in NO_MODALITY_SOP_CLASSES
    slope, intercept, mod_lut = 1.0, 0.0, None
    if not skip_modality:
        seq = ds.get("ModalityLUTSequence")
        if seq:
            mod_lut = _lut(seq[0], geo.signed, byte_order(geo))
        else:
            try:
                slope = _first(ds.get("RescaleSlope", 1.0) or 1.0)
                intercept = _first(ds.get("RescaleIntercept", 0.0) or 0.0)
            except (TypeError, ValueError):
                slope, intercept = 1.0, 0.0
    shape = str(ds.get("PresentationLUTShape", "")).strip().upper()
    invert = (geo.photometric == "MONOCHROME1") != (shape == "INVERSE")
    common: dict[str, Any] = {
        "bits_stored": geo.bits_stored, "signed": geo.signed, "slope": slope,
        "intercept": intercept, "modality_lut": mod_lut, "invert": invert,
    }
    center, width = ds.get("WindowCenter"), ds.get("WindowWidth")
    if center not in (None, "") and width not in (None, ""):
        try:
            c, w = _first(center), _first(width)
        except (TypeError, ValueError, IndexError):
            c, w = 0.0, 0.0
        if w >= 1:
            function = str(ds.get("VOILUTFunction", "")).strip().upper()
            return grey.GreyParams(voi="window", center=c, width=w, sigmoid=function == "SIGMOID",
                                   **common)
    voi_seq = ds.get("VOILUTSequence")
    if voi_seq:
        signed_first = geo.signed or mod_lut is not None or intercept < 0
        return grey.GreyParams(voi="voi_lut", voi_lut=_lut(voi_seq[0], signed_first, byte_order(geo)),
                               **common)
    return grey.GreyParams(voi="minmax", **common)


@dataclass(frozen=True, slots=True)
class NativeFrame:
    """The first frame of plain 8/16-bit greyscale data, read in row blocks without decoding.

    The words come straight from the caller's bytes (a zero-copy view) or from the file on disk
    (one block at a time), so neither the pixel data nor the frame is ever held in full twice.
    """

    rows: int
    columns: int
    dtype: Any
    offset: int
    buffer: bytes | None = None
    path: str | None = None

    def blocks(self) -> Iterator[Any]:
        """Arrays of up to BLOCK_ROWS rows, top to bottom."""
        import numpy as np

        row_bytes = self.columns * self.dtype.itemsize
        if self.buffer is not None:
            frame = np.frombuffer(self.buffer, dtype=self.dtype, count=self.rows * self.columns,
                                  offset=self.offset).reshape(self.rows, self.columns)
            for start in range(0, self.rows, BLOCK_ROWS):
                yield frame[start:start + BLOCK_ROWS]
            return
        assert self.path is not None
        with Path(self.path).open("rb") as handle:
            handle.seek(self.offset)
            for start in range(0, self.rows, BLOCK_ROWS):
                count = min(BLOCK_ROWS, self.rows - start)
                data = handle.read(count * row_bytes)
                if len(data) < count * row_bytes:
                    raise BadDicom("pixel data is shorter than its header says")
                yield np.frombuffer(data, dtype=self.dtype).reshape(count, self.columns)


def _native_frame(ds: Any, geo: Geometry, source: Any) -> NativeFrame | None:
    """A NativeFrame when the data is uncompressed 8/16-bit greyscale, else None."""
    import numpy as np

    order = NATIVE_SYNTAXES.get(geo.transfer_syntax)
    if order is None or geo.samples != 1 or geo.bits_allocated not in (8, 16):
        return None
    element = ds.get_item(0x7FE00010, keep_deferred=True)
    if order == ">" and geo.bits_allocated == 8 and getattr(element, "VR", "OW") != "OB":
        return None  # bytes swapped in pairs: see little_endian_pixels
    dtype = np.dtype(f"{order}u2") if geo.bits_allocated == 16 else np.dtype("u1")
    size = geo.rows * geo.columns * dtype.itemsize
    deferred = getattr(element, "value", b"") is None and getattr(element, "value_tell", None)
    if deferred and geo.transfer_syntax != DEFLATED:
        if int(element.length) < size:
            raise BadDicom("pixel data is shorter than its header says")
        offset = int(element.value_tell)
        if isinstance(source, bytes | bytearray):
            if offset + size > len(source):
                raise BadDicom("pixel data is shorter than its header says")
            return NativeFrame(geo.rows, geo.columns, dtype, offset, buffer=bytes(source))
        if isinstance(source, str | os.PathLike):
            return NativeFrame(geo.rows, geo.columns, dtype, offset, path=os.fspath(source))
    data = ds.PixelData
    if len(data) < size:
        raise BadDicom("pixel data is shorter than its header says")
    return NativeFrame(geo.rows, geo.columns, dtype, 0, buffer=data)


def little_endian_pixels(ds: Any) -> None:
    """Re-encode Explicit VR Big Endian pixel data as the Little Endian stream it stands for.

    In a big-endian dataset, OW pixel data is a stream of 16-bit words, each stored big-endian,
    whatever Bits Allocated says (PS3.5 section 8 and Annex D): 8-bit samples come swapped in
    pairs and a 32-bit sample as two swapped words, low word first, as DCMTK writes and reads
    them; OB is unaffected by byte order. Swapping every word of OW data gives the little-endian
    encoding of the same samples, which the decoders then read as Explicit VR Little Endian.
    """
    import numpy as np
    from pydicom.uid import UID

    element = ds["PixelData"]
    if element.VR != "OB":
        data = element.value
        words = np.frombuffer(data, dtype="<u2", count=len(data) // 2)
        element.value = words.byteswap().tobytes() + data[len(words) * 2:]
    ds.file_meta.TransferSyntaxUID = UID(EXPLICIT_LE)


def _decode(ds: Any, geo: Geometry, raw: bool, plugin: str = "") -> tuple[Any, str]:
    """First frame via pydicom's pixel plugins; returns the array and its photometric."""
    from pydicom.pixels.utils import pixel_array

    if str(ds.get("NumberOfFrames", "1")).strip() not in ("", str(geo.frames)):
        ds.NumberOfFrames = geo.frames  # e.g. "1A": read as DCMTK reads it, not refused
    order = NATIVE_SYNTAXES.get(geo.transfer_syntax)
    if order is not None:
        samples = 2 if geo.photometric == "YBR_FULL_422" else geo.samples  # 4:2:2 is subsampled
        frame_bits = geo.rows * geo.columns * samples * geo.bits_allocated
        if len(ds.PixelData) * 8 < frame_bits:
            raise BadDicom("pixel data is shorter than its header says")
    syntax = ds.file_meta.TransferSyntaxUID
    if order == ">":
        little_endian_pixels(ds)
    array = None
    try:
        for name in decode_order(geo.transfer_syntax, plugin):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # e.g. excess frames: we only read the first
                    array = pixel_array(ds, index=0, raw=raw, decoding_plugin=name)
                break
            except MemoryError:
                raise BadDicom("the image is too large to decode") from None
            except Exception:  # noqa: BLE001, S112 - decoders raise anything on corrupt streams
                continue
    finally:
        ds.file_meta.TransferSyntaxUID = syntax  # the rest of the dataset keeps its byte order
    if array is None:
        raise BadDicom("the pixel data could not be decoded")
    # raw=False converts YCbCr to RGB (in the JPEG library for lossy JPEG, as DCMTK's decoder does)
    photometric = geo.photometric if raw else "RGB"
    return array, photometric


def _histogram(blocks: Iterator[Any], size: int) -> Any:
    import numpy as np

    counts = np.zeros(size, dtype=np.int64)
    for block in blocks:
        counts += np.bincount(block.ravel(), minlength=size)
    return counts


def _mapped(blocks: Iterator[Any], lut: Any) -> Iterator[bytes]:
    """Each block of raw words through the table, as Sub-filtered scanlines."""
    for block in blocks:
        yield png.filter_sub(lut[block], 1)


def render_grey(ds: Any, geo: Geometry, source: Any) -> tuple[Iterator[bytes], dict[str, Any]]:
    """Filtered scanlines of the first frame of a MONOCHROME1/2 dataset, and the window used."""
    import numpy as np

    params = grey_params(ds, geo)
    frame = _native_frame(ds, geo, source)
    if frame is not None:
        bits = 8 * frame.dtype.itemsize
        shift = geo.high_bit + 1 - geo.bits_stored
        histogram = _histogram(frame.blocks(), 1 << bits) if params.voi == "minmax" else None
        lut = grey.container_lut(bits, params, shift, histogram)
        return _mapped(frame.blocks(), lut), _window_meta(params)
    decoded, _ = _decode(ds, geo, raw=True)
    decoded = decoded.reshape(geo.rows, geo.columns)
    if decoded.dtype.itemsize <= 2 and geo.bits_allocated in (8, 16):
        words = decoded.view(np.uint8 if decoded.dtype.itemsize == 1 else np.uint16)
        blocks = [words[i:i + BLOCK_ROWS] for i in range(0, geo.rows, BLOCK_ROWS)]
        bits = 8 * words.dtype.itemsize
        histogram = _histogram(iter(blocks), 1 << bits) if params.voi == "minmax" else None
        lut = grey.container_lut(bits, params, 0, histogram)
        return _mapped(iter(blocks), lut), _window_meta(params)
    return png.scanlines(grey.render_values(decoded, params), BLOCK_ROWS), _window_meta(params)


def _window_meta(params: grey.GreyParams) -> dict[str, Any]:
    if params.voi == "window":
        return {"mode": "sigmoid" if params.sigmoid else "linear", "center": params.center,
                "width": params.width}
    return {"mode": "voi_lut" if params.voi == "voi_lut" else "minmax"}


def render_colour(ds: Any, geo: Geometry) -> Iterator[bytes]:
    """Filtered scanlines of the first frame of an RGB, YCbCr or palette dataset, 8-bit RGB."""
    import numpy as np

    if geo.photometric == "PALETTE COLOR":
        indices, _ = _decode(ds, geo, raw=True)
        image = _palette(ds, geo, indices)
    else:
        lossy_jpeg = geo.transfer_syntax in JPEG_LOSSY and geo.bits_allocated == 8
        array, photometric = _decode(ds, geo, raw=not lossy_jpeg,
                                     plugin="pillow" if lossy_jpeg else "")
        if photometric in ("YBR_FULL", "YBR_FULL_422"):
            array = colour.ybr_full_to_rgb(array, geo.bits_stored,
                                           table=photometric == "YBR_FULL")
        image = colour.reduce_depth(array, geo.bits_stored)
    image = np.ascontiguousarray(image.reshape(geo.rows, geo.columns, 3))
    return png.scanlines(image, BLOCK_ROWS)


def palette_luts(ds: Any, order: str) -> list[tuple[int, int, Any]] | None:
    """(first mapped value, bits, entries) of the red, green and blue tables, with OW data read
    in the dataset's byte order; None for segmented tables (pydicom expands those)."""
    luts = []
    for name in ("Red", "Green", "Blue"):
        data = ds.get(f"{name}PaletteColorLookupTableData")
        if data is None:
            return None
        count, first, bits = (int(v) for v in ds[f"{name}PaletteColorLookupTableDescriptor"].value)
        count = count or 65536
        words = lut_words(data, count, order)
        if words.size == 0:
            raise ValueError("empty palette")
        luts.append((first, bits if words.dtype.itemsize > 1 else 8, words))
    return luts


def _palette(ds: Any, geo: Geometry, indices: Any) -> Any:
    """Palette colour indices through the tables, reduced to 8 bits as DCMTK does."""
    try:
        luts = palette_luts(ds, byte_order(geo))
        if luts is not None:
            return colour.palette_to_rgb(indices, luts)
        from pydicom.pixels.processing import apply_color_lut

        rgb = apply_color_lut(indices, ds)  # segmented tables: pydicom reads their byte order
        bits = int(ds.RedPaletteColorLookupTableDescriptor[2])
        return colour.reduce_depth(rgb, bits if rgb.dtype.itemsize > 1 else 8)
    except Exception:  # noqa: BLE001 - missing or malformed palette tables
        raise BadDicom("the palette colour tables are missing or malformed") from None


def metadata(ds: Any, geo: Geometry) -> dict[str, Any]:
    """Only technical, non-identifying attributes (no names, IDs, dates, institutions)."""
    from pydicom.uid import UID

    syntax = UID(geo.transfer_syntax)
    return {
        "modality": str(ds.get("Modality", "")) or None,
        "rows": geo.rows, "columns": geo.columns, "frames": geo.frames,
        "samplesPerPixel": geo.samples, "bitsAllocated": geo.bits_allocated,
        "bitsStored": geo.bits_stored, "photometricInterpretation": geo.photometric,
        "transferSyntax": syntax.name if syntax.is_transfer_syntax else geo.transfer_syntax,
    }


def render_chunks(source: bytes | str | os.PathLike[str], limits: Limits | None = None
                  ) -> tuple[Iterator[bytes], int, int, dict[str, Any]]:
    """The PNG as an iterator of pieces (for streaming to a file), its size and metadata.

    Raises BadDicom before anything is decoded when the dataset is unusable; decoding problems
    surface while the iterator is consumed.
    """
    from PIL import Image

    limits = limits or Limits()
    Image.MAX_IMAGE_PIXELS = limits.max_frame_pixels  # the Pillow JPEG path shares the limit
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns about odd values it then reads leniently
        ds = read_dataset(source)
        geo = geometry(ds, limits)
        info = metadata(ds, geo)
        if geo.photometric in MONOCHROME:
            rows, window = render_grey(ds, geo, source)
            info["window"] = window
            colour_type = png.GREY
        else:
            rows = render_colour(ds, geo)
            colour_type = png.RGB
    return png.encode_chunks(geo.columns, geo.rows, colour_type, rows), geo.columns, geo.rows, info


def render_dicom(source: bytes | str | os.PathLike[str], limits: Limits | None = None) -> Rendered:
    """Render the first frame of a DICOM file to PNG; BadDicom says why when it cannot."""
    chunks, width, height, info = render_chunks(source, limits)
    return Rendered(b"".join(chunks), width, height, info)
