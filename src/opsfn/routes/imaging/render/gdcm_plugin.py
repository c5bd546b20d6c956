"""A pydicom decoding plugin over GDCM for JPEG Extended (Process 2 & 4), and decoder order.

pylibjpeg-libjpeg refuses some 12-bit lossy streams that DCMTK's decoder reads (a misplaced marker
in pydicom's ``JPEG-lossy.dcm``), and pydicom's own GDCM plugin declines 12-bit precision. GDCM
carries the IJG library in 8, 12 and 16-bit builds, the same decoder DCMTK uses, so this plugin
hands it the frame directly: for JPEG Extended its output is DCMTK's to the bit, where another
decoder's inverse DCT differs by a grey level here and there, so it is tried first there. For
every other syntax GDCM comes last (``decode_order``): installing it changes no decoder that
already worked. IJG reports recoverable stream problems on stderr itself, outside the logger.

GDCM must never be the first to load the system zlib: its bundled OpenSSL needs ``libz.so.1``,
and a libz loaded in GDCM's group binds its own calls to GDCM's private zlib copy (same symbol
names, another version), which corrupts the heap as soon as Python's ``zlib`` uses it. Importing
``zlib`` here, before any ``import gdcm``, loads the system one on its own first.
"""

from __future__ import annotations

import zlib  # noqa: F401 - before gdcm, see above
from typing import Any

PLUGIN = "opsfn-gdcm"
JPEG_EXTENDED = "1.2.840.10008.1.2.4.51"
DECODER_DEPENDENCIES = {JPEG_EXTENDED: ("python-gdcm>=3.0.10",)}


def is_available(uid: str) -> bool:
    """True when GDCM can be imported and ``uid`` is a syntax this plugin decodes."""
    if uid not in DECODER_DEPENDENCIES:
        return False
    try:
        import gdcm  # noqa: F401
    except ImportError:
        return False
    return True


def _decode_frame(src: bytes, runner: Any) -> bytes:
    """One encoded frame to its native little-endian pixel bytes (pydicom's plugin interface)."""
    import gdcm

    gdcm.Trace.WarningOff()
    gdcm.Trace.ErrorOff()
    gdcm.Trace.DebugOff()
    fragment = gdcm.Fragment()
    fragment.SetByteStringValue(src)
    fragments = gdcm.SequenceOfFragments.New()
    fragments.AddFragment(fragment)
    element = gdcm.DataElement(gdcm.Tag(0x7FE0, 0x0010))
    element.SetValue(fragments.__ref__())
    image = gdcm.Image()
    image.SetNumberOfDimensions(2)
    image.SetDimensions((runner.columns, runner.rows, 1))
    image.SetDataElement(element)
    kind = gdcm.PhotometricInterpretation.GetPIType(str(runner.photometric_interpretation))
    image.SetPhotometricInterpretation(gdcm.PhotometricInterpretation(kind))
    if runner.samples_per_pixel > 1:
        image.SetPlanarConfiguration(runner.planar_configuration)
    image.SetTransferSyntax(gdcm.TransferSyntax(gdcm.TransferSyntax.GetTSType(JPEG_EXTENDED)))
    stored = runner.bits_stored
    image.SetPixelFormat(gdcm.PixelFormat(runner.samples_per_pixel, runner.bits_allocated, stored,
                                          stored - 1, runner.pixel_representation))
    expected = runner.rows * runner.columns * runner.samples_per_pixel * runner.bits_allocated // 8
    frame = image.GetBuffer()
    if frame is None:
        raise ValueError("GDCM could not decode the frame")
    data: bytes = frame.encode("utf-8", "surrogateescape")  # GDCM hands char* back as str
    if len(data) != expected:
        raise ValueError("GDCM decoded a frame of the wrong size")
    return data


def register() -> None:
    """Add the plugin to pydicom's JPEG Extended decoder (once per process)."""
    from pydicom.pixels.decoders.base import get_decoder

    try:
        get_decoder(JPEG_EXTENDED).add_plugin(PLUGIN, (__name__, "_decode_frame"))
    except ValueError:
        pass  # already registered


# pydicom's own preference among the decoders the imaging extra installs, before GDCM existed.
PREFERRED = ("pylibjpeg", "pillow")


def decode_order(uid: str, wanted: str = "") -> list[str]:
    """The plugins to try for ``uid``, in turn: ``wanted`` alone when given; for JPEG Extended
    this plugin, then the others; for anything else the decoders that read it before GDCM was
    installed, in pydicom's order, then pydicom's GDCM plugin."""
    from pydicom.pixels.decoders.base import get_decoder

    if wanted:
        return [wanted]
    if uid == JPEG_EXTENDED:
        register()
    try:
        decoder = get_decoder(uid)
    except NotImplementedError:
        return [""]  # pydicom says it has no decoder, in its own words
    available = set(decoder.available_plugins)
    if not decoder.is_encapsulated or not available:
        return [""]
    last = [name for name in ("gdcm", PLUGIN) if name in available]
    first = [name for name in PREFERRED if name in available]
    if PLUGIN in available:  # JPEG Extended: DCMTK's own decoder first
        first, last = [PLUGIN, *first], [name for name in last if name != PLUGIN]
    return first + sorted(available - set(first) - set(last)) + last
