"""The imaging libraries as the Lambda package ships them: GDCM with one copy of each shared
library, no XML tables and no programs, still decoding 12-bit JPEG Extended; Pillow without its
AVIF codec, still reading JPEG and PNG."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from opsfn.tooling import packaging


def _site_packages() -> Path:
    gdcm = pytest.importorskip("gdcm", reason="python-gdcm is in the imaging extra")
    return Path(gdcm.__file__).parent


def test_stripped_and_deduplicated_gdcm_still_decodes(tmp_path: Path) -> None:
    site = _site_packages()
    tree = tmp_path / "tree"
    tree.mkdir()
    shutil.copy2(site / "gdcm.py", tree / "gdcm.py")
    for name in ("_gdcm", "python_gdcm.libs"):
        if (site / name).exists():
            shutil.copytree(site / name, tree / name, ignore=shutil.ignore_patterns("__pycache__"))
    before = sorted(p.name for p in (tree / "_gdcm").glob("lib*.so*"))
    removed = packaging.strip_tree(tree) + packaging.dedupe_libraries(tree)
    libraries = sorted(p.name for p in (tree / "_gdcm").glob("lib*.so*"))
    assert removed > 15_000_000
    assert len(libraries) * 3 == len(before)  # libX.so, libX.so.M.m and libX.so.M.m.p -> one
    for name in libraries:
        assert packaging.elf_soname((tree / "_gdcm" / name).read_bytes()) == name
    assert not (tree / "_gdcm" / "XML").exists() and not (tree / "_gdcm" / "gdcmconv").exists()
    code = (
        "import sys, json, pathlib\n"
        f"sys.path.insert(0, {str(tree)!r})\n"
        "from opsfn.routes.imaging.render import gdcm_plugin\n"
        "assert gdcm_plugin.is_available(gdcm_plugin.JPEG_EXTENDED)\n"
        "import gdcm\n"
        "assert gdcm.__file__.startswith(sys.path[0]), gdcm.__file__\n"
        "from pydicom.data import get_testdata_file\n"
        "from opsfn.routes.imaging.render import render_dicom\n"
        "data = pathlib.Path(get_testdata_file('JPEG-lossy.dcm')).read_bytes()\n"
        "print(json.dumps(render_dicom(data).metadata))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert '"bitsStored": 12' in result.stdout


def test_soname_of_other_files_is_none(tmp_path: Path) -> None:
    assert packaging.elf_soname(b"not an ELF file") is None
    script = tmp_path / "x.so"
    script.write_bytes(b"#!/bin/sh\n")
    assert packaging.dedupe_libraries(tmp_path) == 0


def test_gdcm_loaded_first_leaves_zlib_alone() -> None:
    """GDCM's OpenSSL needs the system libz; loaded inside GDCM's group, that libz would call
    GDCM's private zlib copy and corrupt the heap. The plugin loads the system zlib first."""
    pytest.importorskip("gdcm", reason="python-gdcm is in the imaging extra")
    import opsfn.routes.imaging.render.gdcm_plugin as plugin

    code = (  # the plugin module alone first (not the package, which loads zlib for PNG)
        "import sys, importlib.util\n"
        f"spec = importlib.util.spec_from_file_location('plugin', {plugin.__file__!r})\n"
        "gdcm_plugin = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(gdcm_plugin)\n"
        "assert 'opsfn.routes.imaging.render' not in sys.modules\n"
        "assert gdcm_plugin.is_available(gdcm_plugin.JPEG_EXTENDED) and 'gdcm' in sys.modules\n"
        "import json, pathlib, zlib\n"
        "assert zlib.decompress(zlib.compress(b'opsfn' * 10000)) == b'opsfn' * 10000\n"
        "from pydicom.data import get_testdata_file\n"
        "from opsfn.routes.imaging.render import render_dicom\n"
        "for name in ('JPGExtended.dcm', 'JPEG-lossy.dcm', 'image_dfl.dcm'):\n"
        "    render_dicom(pathlib.Path(get_testdata_file(name)).read_bytes())\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-2000:]


def test_pillow_without_avif_webp_and_fonts_reads_jpeg_and_png(tmp_path: Path) -> None:
    import PIL

    site = Path(PIL.__file__).parent.parent
    tree = tmp_path / "tree"
    tree.mkdir()
    for name in ("PIL", "pillow.libs"):
        if (site / name).exists():
            shutil.copytree(site / name, tree / name, ignore=shutil.ignore_patterns("__pycache__"))
    packaging.strip_tree(tree)
    assert not list(tree.glob("PIL/_avif*")) and not list(tree.glob("pillow.libs/libavif*"))
    assert not list(tree.glob("PIL/_webp*")) and not list(tree.glob("PIL/_imagingft*"))
    assert not list(tree.glob("pillow.libs/libfreetype*")) and \
        not list(tree.glob("pillow.libs/libwebp*"))
    code = (
        "import io, sys\n"
        f"sys.path.insert(0, {str(tree)!r})\n"
        "from PIL import AvifImagePlugin, Image, ImageFont, WebPImagePlugin, features\n"
        "assert Image.__file__.startswith(sys.path[0]) and not AvifImagePlugin.SUPPORTED\n"
        "assert not WebPImagePlugin.SUPPORTED and not features.check('freetype2')\n"
        "for kind in ('PNG', 'JPEG'):\n"
        "    out = io.BytesIO()\n"
        "    Image.new('RGB', (90, 90), (10, 200, 30)).save(out, kind)\n"
        "    with Image.open(io.BytesIO(out.getvalue())) as image:\n"
        "        image.load()\n"
        "        assert image.format == kind and image.size == (90, 90)\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-2000:]


def test_pydicom_without_its_build_time_parts_renders_every_kind(tmp_path: Path) -> None:
    """The package leaves out pydicom's structured-report dictionaries and numpy's f2py: the
    DICOM path (parse, decompress, window, PNG) never imports them."""
    import numpy
    import pydicom
    from pydicom.data import get_testdata_file

    tree = tmp_path / "tree"
    tree.mkdir()
    site = Path(numpy.__file__).parent.parent
    for name in (Path(pydicom.__file__).parent.name, "numpy", "numpy.libs"):
        if (site / name).exists():
            shutil.copytree(site / name, tree / name, ignore=shutil.ignore_patterns("__pycache__"))
    packaging.strip_tree(tree)
    assert not (tree / "pydicom" / "sr").exists() and not (tree / "numpy" / "f2py").exists()
    samples = []
    for name in ("CT_small.dcm", "MR_small.dcm", "JPEG2000.dcm", "SC_rgb.dcm", "image_dfl.dcm"):
        sample = tmp_path / name
        sample.write_bytes(Path(get_testdata_file(name)).read_bytes())
        samples.append(str(sample))
    code = (
        "import pathlib, sys\n"
        f"sys.path.insert(0, {str(tree)!r})\n"
        "import numpy, pydicom\n"
        "assert pydicom.__file__.startswith(sys.path[0]) and numpy.__file__.startswith(sys.path[0])\n"
        "from opsfn.routes.imaging.render import render_dicom\n"
        f"for path in {samples!r}:\n"
        "    assert render_dicom(pathlib.Path(path).read_bytes()).png.startswith(b'\\x89PNG')\n"
        "assert not [m for m in sys.modules if m.startswith(('pydicom.sr', 'numpy.f2py'))]\n"
        "print('ok')\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-2000:]
