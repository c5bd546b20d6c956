"""What decoding uploads in the sandbox child costs, against references measured in the same run.

1. Added time per image at steady state: a small DICOM (``CT_small.dcm``) decoded through the
   sandbox with the spare child ready (it starts while the function talks to S3 and Rekognition,
   so readiness is waited for outside the timing), against the same work in this process.
   Back-to-back decodes (the spare still importing) are reported too. Target: median <= 30 ms.
2. The 5120x4096 16-bit image: the sandbox (spare ready) and the whole ``opsfn dicom2png``
   command (parent and a cold child) against ``dcm2pnm`` as a process, identical output
   required. Target: >= 3x faster.
3. Peak memory: the child's (VmHWM) on that image against ``dcm2pnm``'s peak RSS (target <=
   1.5x); and a function-like parent (its own VmHWM) plus its child, rendering it as an upload
   (with the Rekognition copy), plus the spare that follows, against the template's
   ``FunctionMemory`` default (MemorySize).

    python bench/imaging_sandbox.py [--runs 41] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from tests.imaging import dcmtk_reference as dcmtk  # noqa: E402

from imaging_dicom import generate_big, load_png, measured, opsfn_command  # noqa: E402

# A function-like parent in its own process: reads the upload, has it decoded as the route does,
# reports its own peak RSS (VmHWM, not inflated by the benchmark's memory) and the child's.
_UPLOAD = (
    "import sys, json\n"
    "from pathlib import Path\n"
    "from opsfn.routes.imaging.sandbox import client\n"
    "from opsfn.routes.imaging.sandbox.child import peak_rss_kib\n"
    "from opsfn.routes.imaging.sandbox.work import Job\n"
    "data = Path(sys.argv[1]).read_bytes()\n"
    "decoded = client.decode(data, Job('dicom', 512 << 20, 64 << 20, 4096))\n"
    "spare = client.prepare()\n"
    "status = Path(f'/proc/{spare}/status').read_text()\n"
    "spare_kib = int(status.split('VmRSS:')[1].split()[0])\n"
    "print(json.dumps([peak_rss_kib(), decoded.peak_rss_kib, spare_kib,"
    " len(decoded.label_copy or b'')]))\n"
)


def function_memory_mb() -> int:
    """FunctionMemory's default in infra/template.yaml (the function's MemorySize)."""
    text = (ROOT / "infra" / "template.yaml").read_text()
    match = re.search(r"\n  FunctionMemory:\n(?:    .*\n)*?    Default: (\d+)", text)
    assert match, "FunctionMemory has no default in the template"
    return int(match.group(1))


def timed(action: object, runs: int, before: object = None) -> list[float]:
    """Seconds per call of ``action``, ``before`` (untimed) ahead of each."""
    samples = []
    for _ in range(runs):
        if callable(before):
            before()
        started = time.perf_counter()
        assert callable(action)
        action()
        samples.append(time.perf_counter() - started)
    return samples


def steady_state(runs: int) -> tuple[float, float, float]:
    """Median seconds: in process, sandbox with the spare ready, sandbox back to back."""
    from pydicom.data import get_testdata_file

    from opsfn.routes.imaging.sandbox import client, work

    data = Path(get_testdata_file("CT_small.dcm")).read_bytes()
    job = work.Job("dicom", 512 << 20, 64 << 20, 4096)
    work.run(data, job)  # in-process imports and first calls, as the spare has them
    inline = timed(lambda: work.run(data, job), runs)
    ready = timed(lambda: client.decode(data, job), runs, before=client.prepare)
    back_to_back = timed(lambda: client.decode(data, job), max(5, runs // 4))
    client.shutdown()
    return statistics.median(inline), statistics.median(ready), statistics.median(back_to_back)


def big_image(big: Path, tmp: Path, repeat: int) -> dict[str, float | bool]:
    """The 5120x4096 image: sandbox (spare ready), the CLI and dcm2pnm; output compared."""
    from opsfn.routes.imaging.sandbox import client, work

    data = big.read_bytes()
    job = work.Job("dicom", 512 << 20, 64 << 20)  # as dcm2pnm: the PNG only
    sandbox_s, child_kib, image = [], [], b""
    for _ in range(repeat):
        client.prepare()
        started = time.perf_counter()
        decoded = client.decode(data, job)
        sandbox_s.append(time.perf_counter() - started)
        child_kib.append(decoded.peak_rss_kib)
        image = decoded.image or b""
    client.shutdown()
    ours_png, ref_png = tmp / "ours.png", tmp / "ref.png"
    ours_png.write_bytes(image)
    ref_runs = [measured(dcmtk.command("dcm2pnm", big, ref_png)) for _ in range(repeat)]
    cli_runs = [measured(opsfn_command(big, tmp / "cli.png")) for _ in range(repeat)]
    assert all(run[0] == 0 for run in ref_runs + cli_runs)
    verdict, _ = dcmtk.compare(load_png(ours_png), load_png(ref_png))
    cli_same = (tmp / "cli.png").read_bytes() == image
    return {"sandbox_s": statistics.median(sandbox_s), "child_kib": max(child_kib),
            "ref_s": statistics.median(r[1] for r in ref_runs),
            "ref_kib": max(r[2] for r in ref_runs),
            "cli_s": statistics.median(r[1] for r in cli_runs),
            "identical": verdict == "identical" and cli_same}


def as_upload(big: Path) -> tuple[int, int, int, int]:
    """(parent, child, spare) peak/current RSS in KiB and the Rekognition copy's size."""
    import os

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    reply = subprocess.run([sys.executable, "-c", _UPLOAD, str(big)], capture_output=True,
                           text=True, check=True, env=env)
    parent, child, spare, copy = json.loads(reply.stdout)
    return int(parent), int(child), int(spare), int(copy)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=41, help="decodes of the small DICOM")
    parser.add_argument("--repeat", type=int, default=3, help="runs per tool on the big image")
    args = parser.parse_args()
    if not dcmtk.available():
        print("dcm2pnm not found: apt-get install dcmtk")
        return 2
    inline, ready, back_to_back = steady_state(args.runs)
    added = ready - inline
    print(f"CT_small.dcm (128x128), median of {args.runs}: in process {inline * 1000:.1f} ms, "
          f"sandbox with the spare ready {ready * 1000:.1f} ms, added {added * 1000:.1f} ms "
          f"(target <= 30); back to back {back_to_back * 1000:.0f} ms")
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        big = tmp / "big_5120x4096.dcm"
        generate_big(big)
        row = big_image(big, tmp, args.repeat)
        parent, child, spare, copy = as_upload(big)
    speed = float(row["ref_s"]) / float(row["sandbox_s"])
    cli_speed = float(row["ref_s"]) / float(row["cli_s"])
    memory = float(row["child_kib"]) / float(row["ref_kib"])
    print(f"5120x4096 16-bit, median of {args.repeat}: sandbox {row['sandbox_s']:.2f} s, "
          f"opsfn dicom2png {row['cli_s']:.2f} s, dcm2pnm {row['ref_s']:.2f} s; "
          f"identical: {row['identical']}")
    print(f"ratios: sandbox speed-up {speed:.2f}x (target >= 3), dicom2png command "
          f"{cli_speed:.2f}x; child peak {float(row['child_kib']) / 1024:.0f} MiB against "
          f"dcm2pnm {float(row['ref_kib']) / 1024:.0f} MiB: {memory:.2f}x (target <= 1.5)")
    memory_mb = function_memory_mb()
    total = (parent + child) / 1024
    print(f"as an upload (with a {copy / 1e6:.1f} MB Rekognition copy): parent peak "
          f"{parent / 1024:.0f} MiB + child peak {child / 1024:.0f} MiB = {total:.0f} MiB, then "
          f"the next spare {spare / 1024:.0f} MiB; {(total + spare / 1024) / memory_mb:.0%} of "
          f"MemorySize {memory_mb} MB (FunctionMemory default) even if all three coincided")
    met = added <= 0.030 and speed >= 3 and memory <= 1.5 and bool(row["identical"])
    print(f"targets {'met' if met else 'NOT met'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
