"""DICOM rendering against DCMTK: accuracy per file, and speed and memory as whole processes.

The files: every one of pydicom's test files that can be had offline (``pydicom/data/test_files``
and the ``pydicom-data`` package's store, which ``pydicom.data`` reads instead of downloading),
plus a generated 5120x4096 16-bit MONOCHROME2 image. For each, ``opsfn dicom2png IN OUT`` and
DCMTK (``dcm2pnm +on -O`` with ``+Wi 1`` / ``+Wl 1`` / ``+Wm`` as the file calls for; Debian's
``dcmj2pnm`` / ``dcml2pnm`` when ``dcm2pnm`` lacks the decoder) run as separate processes in the
same run; the PNGs are compared pixel by pixel (identical / within 1 / worse) and wall time and
peak RSS (``wait4`` rusage) of each are reported. Then every uncompressed file is re-encoded by
DCMTK's ``dcmconv`` (big endian, implicit VR, deflated, and bare datasets without preamble or file
meta) and each variant rendered in process against DCMTK's rendering of the same variant.

Targets: greyscale identical on >= 95% of files both read and within 1 on all; colour identical;
no file (or variant) that DCMTK renders fails here; on the 5120x4096 image >= 3x faster than
DCMTK with peak RSS <= 1.5x. Failures are printed by name at the end.

    python bench/imaging_dicom.py [--repeat 3] [--only-big] [--no-variants] [--files A.dcm ...]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.imaging import dcmtk_reference as dcmtk  # noqa: E402

# Peak RSS must be measured on a process forked from a small one: Linux counts the memory a
# child inherited before exec (here: this script's numpy arrays) in its ru_maxrss.
_LAUNCHER = (
    "import os, sys, time, json\n"
    "t = time.perf_counter()\n"
    "pid = os.fork()\n"
    "if pid == 0:\n"
    "    fd = os.open(os.devnull, os.O_WRONLY); os.dup2(fd, 1); os.dup2(fd, 2)\n"
    "    os.execvp(sys.argv[1], sys.argv[1:])\n"
    "_, status, usage = os.wait4(pid, 0)\n"
    "print(json.dumps([os.waitstatus_to_exitcode(status), time.perf_counter() - t,"
    " usage.ru_maxrss]))\n"
)


def measured(cmd: list[str]) -> tuple[int, float, int]:
    """(exit status, wall seconds, peak RSS in KiB) of one process, launched from a small one."""
    import json

    reply = subprocess.run([sys.executable, "-S", "-c", _LAUNCHER, *cmd], capture_output=True,
                           text=True, check=True)
    status, elapsed, rss = json.loads(reply.stdout)
    return int(status), float(elapsed), int(rss)


def opsfn_command(src: Path, out: Path) -> list[str]:
    exe = shutil.which("opsfn")
    return [exe, "dicom2png", str(src), str(out)] if exe else [
        sys.executable, "-m", "opsfn.tooling.cli", "dicom2png", str(src), str(out)]


def load_png(path: Path) -> Any:
    import numpy as np
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = None
    with Image.open(path) as image:
        return np.asarray(image).copy()


def generate_big(path: Path) -> None:
    """5120x4096, 16 bits stored: smooth anatomy-like structure plus noise, no VOI window."""
    import numpy as np
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    rows, cols = 4096, 5120
    rng = np.random.default_rng(1)
    y, x = np.mgrid[0:rows, 0:cols].astype(np.float32)
    image = (20000 + 15000 * np.sin(x / 300) * np.cos(y / 200) + 8000 * (x / cols)
             + rng.normal(0, 200, (rows, cols)).astype(np.float32))
    pixels = np.clip(image, 0, 65535).astype("<u2")
    meta = FileMetaDataset()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = SecondaryCaptureImageStorage, meta.MediaStorageSOPInstanceUID
    ds.Modality = "OT"
    ds.Rows, ds.Columns, ds.SamplesPerPixel = rows, cols, 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.PixelData = pixels.tobytes()
    ds.save_as(path, enforce_file_format=True)


def compare_file(src: Path, tmp: Path, repeat: int) -> dict[str, Any]:
    """Both tools on one file, as processes."""
    tool = dcmtk.reference_tool(src)
    ours_out, ref_out = tmp / "ours.png", tmp / "ref.png"
    for stale in (ours_out, ref_out):
        stale.unlink(missing_ok=True)
    ref_runs, our_runs = [], []
    for _ in range(repeat):
        if tool is not None:
            ref_runs.append(measured(dcmtk.command(tool, src, ref_out)))
        our_runs.append(measured(opsfn_command(src, ours_out)))
    ours_ok = our_runs[0][0] == 0
    if tool is None or not ours_ok or ref_runs[0][0] != 0:
        return {"name": src.name, "read": False, "tool": tool, "ours_ok": ours_ok}
    ours, ref = load_png(ours_out), load_png(ref_out)
    verdict, diff = dcmtk.compare(ours, ref)
    return {
        "name": src.name, "read": True, "tool": tool, "colour": ref.ndim == 3,
        "verdict": verdict, "diff": diff,
        "ours_s": statistics.median(r[1] for r in our_runs),
        "ref_s": statistics.median(r[1] for r in ref_runs),
        "ours_kb": max(r[2] for r in our_runs), "ref_kb": max(r[2] for r in ref_runs),
    }


def compare_variant(src: Path, variant: str, tmp: Path) -> dict[str, Any] | None:
    """One dcmconv re-encoding of ``src``, rendered in process and by DCMTK; None when DCMTK
    renders neither the variant nor anything (nothing to judge)."""
    import io
    import warnings

    from opsfn.routes.imaging.render import BadDicom, render_dicom

    out = tmp / f"{variant}-{src.name}"
    if not dcmtk.make_variant(src, variant, out):
        return None
    reference = dcmtk.render_reference(out)
    if reference is None:
        return None
    name = f"{src.name} [{variant}]"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            png = render_dicom(out.read_bytes()).png
    except BadDicom as exc:
        return {"name": name, "verdict": f"ours fails: {exc}", "colour": reference.ndim == 3}
    finally:
        out.unlink(missing_ok=True)
    import numpy as np
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        ours = np.asarray(image).copy()
    verdict, _ = dcmtk.compare(ours, reference)
    return {"name": name, "verdict": verdict, "colour": reference.ndim == 3}


def print_table(results: list[dict[str, Any]]) -> None:
    print(f"{'file':44} {'tool':9} {'result':10} {'ours ms':>8} {'dcmtk ms':>9}")
    for row in results:
        if row["read"]:
            print(f"{row['name']:44} {row['tool']:9} {row['verdict']:10} "
                  f"{row['ours_s'] * 1000:8.0f} {row['ref_s'] * 1000:9.0f}")
        elif row["tool"] is not None:
            print(f"{row['name']:44} {row['tool']:9} {'ours fails (DCMTK renders it)'}")
        else:
            print(f"{row['name']:44} {'-':9} "
                  f"{'DCMTK cannot, ours renders' if row['ours_ok'] else 'neither renders'}")


def failures(results: list[dict[str, Any]], variants: list[dict[str, Any]]) -> list[str]:
    """Every file DCMTK renders that fails here or renders differently than the targets allow."""
    found = []
    for row in results:
        if not row["read"] and row["tool"] is not None:
            found.append(f"{row['name']}: ours fails, {row['tool']} renders it")
        elif row["read"] and (row["verdict"] in ("worse", "shape")
                              or (row["colour"] and row["verdict"] != "identical")):
            found.append(f"{row['name']}: {row['verdict']} (max difference {row['diff']})")
    for row in variants:
        if row["verdict"] != "identical" and not (row["verdict"] == "within1"
                                                  and not row["colour"]):
            found.append(f"{row['name']}: {row['verdict']}")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per tool on the big image")
    parser.add_argument("--only-big", action="store_true")
    parser.add_argument("--no-variants", action="store_true", help="skip dcmconv re-encodings")
    parser.add_argument("--files", nargs="*", help="only these file names")
    parser.add_argument("--generate", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:
        generate_big(args.generate)
        return 0
    if not dcmtk.available():
        print("dcm2pnm not found: apt-get install dcmtk")
        return 2
    files = [f for f in dcmtk.sample_files() if not args.files or f.name in args.files]
    results: list[dict[str, Any]] = []
    variants: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        if not args.only_big:
            print(f"{len(files)} files (pydicom's test files and the pydicom-data store)")
            results = [compare_file(src, tmp, 1) for src in files]
            print_table(results)
            if not args.no_variants:
                natives = [src for src in files if dcmtk.is_native_image(src)]
                for src in natives:
                    for variant in dcmtk.VARIANTS:
                        row = compare_variant(src, variant, tmp)
                        if row is not None:
                            variants.append(row)
                same = sum(r["verdict"] == "identical" for r in variants)
                print(f"\nvariants: {len(natives)} uncompressed files x {len(dcmtk.VARIANTS)} "
                      f"re-encodings ({', '.join(dcmtk.VARIANTS)}); {len(variants)} rendered by "
                      f"DCMTK, identical {same}/{len(variants)}")
        big = tmp / "big_5120x4096.dcm"
        subprocess.run([sys.executable, __file__, "--generate", str(big)], check=True)
        big_row = compare_file(big, tmp, args.repeat)
    both = [r for r in results if r["read"]]
    grey = [r for r in both if not r["colour"]]
    colour = [r for r in both if r["colour"]]
    grey_identical = sum(r["verdict"] == "identical" for r in grey)
    grey_within = sum(r["verdict"] in ("identical", "within1") for r in grey)
    colour_identical = sum(r["verdict"] == "identical" for r in colour)
    problems = failures(results, variants)
    print()
    if both:
        share = grey_identical / len(grey) if grey else 0.0
        print(f"greyscale files both read: {len(grey)}; identical {grey_identical} ({share:.0%}), "
              f"within 1 {grey_within}/{len(grey)}")
        print(f"colour files both read: {len(colour)}; identical {colour_identical}/{len(colour)}")
        print("DCMTK cannot read, opsfn renders: " + (", ".join(
            r["name"] for r in results if not r["read"] and r["tool"] is None and r["ours_ok"])
            or "none"))
        print("neither renders: " + (", ".join(
            r["name"] for r in results if not r["read"] and r["tool"] is None
            and not r["ours_ok"]) or "none"))
    print("failures (DCMTK renders, opsfn does not or differs): " + ("none" if not problems
                                                                   else str(len(problems))))
    for problem in problems:
        print(f"  FAIL {problem}")
    assert big_row["read"]
    speed = big_row["ref_s"] / big_row["ours_s"]
    memory = big_row["ours_kb"] / big_row["ref_kb"]
    print(f"5120x4096 16-bit: {big_row['verdict']}; opsfn {big_row['ours_s']:.2f} s "
          f"{big_row['ours_kb'] / 1024:.0f} MiB, dcm2pnm {big_row['ref_s']:.2f} s "
          f"{big_row['ref_kb'] / 1024:.0f} MiB (median of {args.repeat})")
    print(f"ratios: speed-up {speed:.2f}x (target >= 3), peak RSS {memory:.2f}x (target <= 1.5)")
    met = speed >= 3 and memory <= 1.5 and big_row["verdict"] == "identical" and not problems
    if both:
        met = met and grey_identical >= 0.95 * len(grey) and grey_within == len(grey) and \
            colour_identical == len(colour)
    print(f"targets {'met' if met else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
