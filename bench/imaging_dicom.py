"""DICOM rendering against DCMTK: accuracy per file, and speed and memory as whole processes.

For every file in pydicom's bundled ``test_files`` plus a generated 5120x4096 16-bit MONOCHROME2
image, run ``opsfn dicom2png IN OUT`` and DCMTK (``dcm2pnm +on -O`` with ``+Wi 1`` / ``+Wl 1`` /
``+Wm`` as the file calls for; Debian's ``dcmj2pnm`` / ``dcml2pnm`` when ``dcm2pnm`` lacks the
decoder) as separate processes in the same run; compare the PNGs pixel by pixel (identical /
within 1 / worse) and report wall time and peak RSS (``wait4`` rusage) of each.

Targets: greyscale identical on >= 95% of files both read and within 1 on all; colour identical;
on the 5120x4096 image >= 3x faster than DCMTK with peak RSS <= 1.5x.

    python bench/imaging_dicom.py [--repeat 3] [--only-big]
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

# DCMTK's rendering of these big-endian 32-bit files differs from its own rendering of the
# byte-identical little-endian twins; they are reported, and judged against the twin.
DCMTK_TWINS = {"rtdose_expb.dcm": "rtdose.dcm", "rtdose_expb_1frame.dcm": "rtdose_1frame.dcm"}


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


def compare_file(src: Path, tmp: Path, repeat: int) -> dict[str, Any] | None:
    """Both tools on one file; None when either cannot read it."""
    ref_src = src.with_name(DCMTK_TWINS[src.name]) if src.name in DCMTK_TWINS else src
    tool = dcmtk.reference_tool(ref_src)
    ours_out, ref_out = tmp / "ours.png", tmp / "ref.png"
    for stale in (ours_out, ref_out):
        stale.unlink(missing_ok=True)
    ref_runs, our_runs = [], []
    for _ in range(repeat):
        if tool is not None:
            ref_runs.append(measured(dcmtk.command(tool, ref_src, ref_out)))
        our_runs.append(measured(opsfn_command(src, ours_out)))
    if tool is None or our_runs[0][0] != 0 or ref_runs[0][0] != 0:
        return {"name": src.name, "read": False, "tool": tool,
                "ours_ok": our_runs[0][0] == 0}
    ours, ref = load_png(ours_out), load_png(ref_out)
    verdict, diff = dcmtk.compare(ours, ref)
    direct = None
    if src.name in DCMTK_TWINS:  # what DCMTK itself produces for the big-endian file
        measured(dcmtk.command(tool, src, ref_out))
        direct = dcmtk.compare(ours, load_png(ref_out))[0]
    return {
        "name": src.name, "read": True, "tool": tool, "colour": ref.ndim == 3,
        "verdict": verdict, "diff": diff, "direct": direct,
        "ours_s": statistics.median(r[1] for r in our_runs),
        "ref_s": statistics.median(r[1] for r in ref_runs),
        "ours_kb": max(r[2] for r in our_runs), "ref_kb": max(r[2] for r in ref_runs),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per tool on the big image")
    parser.add_argument("--only-big", action="store_true")
    parser.add_argument("--generate", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:
        generate_big(args.generate)
        return 0
    if not dcmtk.available():
        print("dcm2pnm not found: apt-get install dcmtk")
        return 2
    import pydicom

    files = sorted((Path(pydicom.__file__).parent / "data" / "test_files").glob("*.dcm"))
    results = []
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        big = tmp / "big_5120x4096.dcm"
        subprocess.run([sys.executable, __file__, "--generate", str(big)], check=True)
        if not args.only_big:
            print(f"{'file':44} {'tool':9} {'result':10} {'ours ms':>8} {'dcmtk ms':>9}")
            for src in files:
                row = compare_file(src, tmp, 1)
                if row is None:
                    continue
                results.append(row)
                if not row["read"]:
                    if row["tool"] is not None and not row["ours_ok"]:
                        print(f"{row['name']:44} {row['tool']:9} {'ours fails (DCMTK reads it)'}")
                    continue
                note = f" (dcmtk direct: {row['direct']})" if row["direct"] else ""
                print(f"{row['name']:44} {row['tool']:9} {row['verdict']:10} "
                      f"{row['ours_s'] * 1000:8.0f} {row['ref_s'] * 1000:9.0f}{note}")
        big_row = compare_file(big, tmp, args.repeat)
    both = [r for r in results if r["read"]]
    grey = [r for r in both if not r["colour"]]
    colour = [r for r in both if r["colour"]]
    grey_identical = sum(r["verdict"] == "identical" for r in grey)
    grey_within = sum(r["verdict"] in ("identical", "within1") for r in grey)
    colour_identical = sum(r["verdict"] == "identical" for r in colour)
    print()
    if both:
        share = grey_identical / len(grey) if grey else 0.0
        print(f"greyscale files both read: {len(grey)}; identical {grey_identical} ({share:.0%}), "
              f"within 1 {grey_within}/{len(grey)}")
        print(f"colour files both read: {len(colour)}; identical {colour_identical}/{len(colour)}")
        print("only DCMTK reads: " + ", ".join(
            r["name"] for r in results if not r["read"] and r["tool"] and not r["ours_ok"]))
    assert big_row is not None and big_row["read"]
    speed = big_row["ref_s"] / big_row["ours_s"]
    memory = big_row["ours_kb"] / big_row["ref_kb"]
    print(f"5120x4096 16-bit: {big_row['verdict']}; opsfn {big_row['ours_s']:.2f} s "
          f"{big_row['ours_kb'] / 1024:.0f} MiB, dcm2pnm {big_row['ref_s']:.2f} s "
          f"{big_row['ref_kb'] / 1024:.0f} MiB (median of {args.repeat})")
    print(f"ratios: speed-up {speed:.2f}x (target >= 3), peak RSS {memory:.2f}x (target <= 1.5)")
    met = speed >= 3 and memory <= 1.5 and big_row["verdict"] == "identical"
    if both:
        met = met and grey_identical >= 0.95 * len(grey) and grey_within == len(grey) and \
            colour_identical == len(colour)
    print(f"targets {'met' if met else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
