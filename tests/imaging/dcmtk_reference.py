"""Run DCMTK as the rendering reference, the way the issue fixes it.

``dcm2pnm +on -O`` with ``+Wi 1`` when the file has a VOI window, ``+Wl 1`` when it has a VOI LUT
sequence and no window, ``+Wm`` otherwise (greyscale only; colour takes no VOI option). Debian
builds ``dcm2pnm`` without the JPEG and JPEG-LS decoders and ships the same program with them as
``dcmj2pnm`` and ``dcml2pnm``: when ``dcm2pnm`` cannot decompress, those are tried in turn with the
same options (any failure moves on to the next). Shared by the tests and ``bench/imaging_dicom.py``,
with the file set (``sample_files``) and DCMTK's own re-encodings of each file (``make_variant``).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

TOOLS = ("dcm2pnm", "dcmj2pnm", "dcml2pnm")


def available() -> bool:
    """True when dcm2pnm is on PATH."""
    return shutil.which("dcm2pnm") is not None


def voi_options(path: Path) -> list[str]:
    """The VOI option the issue prescribes for this file."""
    import warnings

    import pydicom

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(path, force=True, stop_before_pixels=True)
    if str(ds.get("PhotometricInterpretation", "")).upper() not in ("MONOCHROME1", "MONOCHROME2"):
        return []
    if "WindowCenter" in ds and "WindowWidth" in ds:
        return ["+Wi", "1"]
    if "VOILUTSequence" in ds:
        return ["+Wl", "1"]
    return ["+Wm"]


def command(tool: str, path: Path, out: Path) -> list[str]:
    """The full command line for one tool."""
    return [tool, "+on", "-O", *voi_options(path), str(path), str(out)]


def _first_rendering(path: Path, out: Path) -> str | None:
    """Render ``path`` to ``out`` with the first DCMTK tool that can; that tool's name."""
    for tool in TOOLS:
        if shutil.which(tool) is None:
            continue
        result = subprocess.run(command(tool, path, out), capture_output=True, check=False)
        if result.returncode == 0 and out.exists():
            return tool
    return None


def reference_tool(path: Path) -> str | None:
    """The first DCMTK tool that renders ``path`` (None when none can)."""
    with tempfile.TemporaryDirectory() as tmp:
        return _first_rendering(path, Path(tmp) / "ref.png")


def render_reference(path: Path) -> Any | None:
    """DCMTK's rendering of ``path`` as a numpy array, or None when DCMTK cannot read it."""
    import numpy as np
    from PIL import Image

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "ref.png"
        if _first_rendering(path, out) is None:
            return None
        with Image.open(out) as image:
            return np.asarray(image).copy()


def compare(ours: Any, reference: Any) -> tuple[str, int]:
    """``identical`` / ``within1`` / ``worse`` (or ``shape``) and the largest difference."""
    import numpy as np

    if ours.shape != reference.shape:
        return "shape", -1
    diff = int(np.abs(ours.astype(np.int32) - reference.astype(np.int32)).max())
    return ("identical" if diff == 0 else "within1" if diff == 1 else "worse"), diff


# Every uncompressed file again, re-encoded by DCMTK's dcmconv: byte order, VR, deflate, and no
# preamble or file meta (a bare dataset, as old writers produce). The pixels do not change.
VARIANTS: dict[str, tuple[str, ...]] = {
    "big-endian": ("+tb",),
    "implicit": ("+ti",),
    "deflated": ("+td",),
    "bare-explicit": ("-F", "+te"),
    "bare-implicit": ("-F", "+ti"),
    "bare-big-endian": ("-F", "+tb"),
}
NATIVE_SYNTAXES = frozenset({"1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2"})


def sample_files() -> list[Path]:
    """pydicom's own test files plus every one ``pydicom.data`` reaches without a network (the
    ``pydicom-data`` package's store), one path per file name, sorted by name."""
    import warnings

    import pydicom
    from pydicom.data import get_testdata_files

    found = {p.name: p for p in (Path(pydicom.__file__).parent / "data" / "test_files").glob("*.dcm")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # files only reachable by download are left out
        for name in get_testdata_files("*.dcm"):
            found.setdefault(Path(name).name, Path(name))
    return [found[name] for name in sorted(found)]


def is_native_image(path: Path) -> bool:
    """Uncompressed pixel data (what dcmconv can re-encode)."""
    import warnings

    import pydicom

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ds = pydicom.dcmread(path, force=True, defer_size=256)
        except Exception:
            return False
    meta = getattr(ds, "file_meta", None)
    syntax = str(meta.get("TransferSyntaxUID", "")) if meta is not None else ""
    return (not syntax or syntax in NATIVE_SYNTAXES) and "PixelData" in ds  # none: a bare dataset


def make_variant(path: Path, variant: str, out: Path) -> bool:
    """Write ``path`` re-encoded as ``variant``; False when dcmconv cannot."""
    result = subprocess.run(["dcmconv", *VARIANTS[variant], str(path), str(out)],
                            capture_output=True, check=False)
    return result.returncode == 0 and out.exists()
