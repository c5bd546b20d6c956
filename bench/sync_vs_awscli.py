"""``opsfn sync`` against ``aws s3 sync`` on one moto server, in one run.

    python bench/sync_vs_awscli.py                       # the issue's sizes
    python bench/sync_vs_awscli.py --small 300 --large-count 2 --large-mb 8 --huge-mb 40   # quick

Both tools run as child processes against the same in-process moto server (loopback), each into
its own bucket. For each phase (first sync, no change, after files changed) it measures wall time,
the child's CPU time and peak RSS (``os.wait4`` gives them per child), then checks that both
buckets hold exactly the same keys, sizes and MD5s as the source tree. Ratios are aws / opsfn:
above 1 means opsfn is faster or cheaper.

Targets from the issue: first small sync >= 2x faster and <= half the CPU; no-change sync >= 3x
faster; never slower on large files. moto's server handles a few hundred small PUTs a second on
one core, so small-file wall times are bounded by it for both tools.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DAY_NS = 24 * 3600 * 10**9


@dataclass
class Run:
    tool: str
    phase: str
    wall: float
    cpu: float
    rss_mib: float
    code: int
    server_cpu: float = 0.0


def make_small(root: Path, count: int, rnd: random.Random) -> None:
    for index in range(count):
        folder = root / f"dir{index % 20:02d}" / f"sub{index % 7}" / f"leaf{index % 3}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"file{index:05d}.bin").write_bytes(rnd.randbytes(rnd.randint(1024, 8192)))


def make_large(root: Path, count: int, size_mb: int, huge_mb: int, rnd: random.Random) -> None:
    (root / "large").mkdir(parents=True, exist_ok=True)
    sizes = [(root / "large" / f"blob{index:02d}.bin", size_mb) for index in range(count)]
    if huge_mb:
        sizes.append((root / "huge.bin", huge_mb))
    for path, mib in sizes:
        with path.open("wb") as out:
            for _ in range(mib):
                out.write(rnd.randbytes(1024 * 1024))


def age(root: Path) -> None:
    """Files on a real file system predate the sync; both tools compare mtimes with upload times."""
    past = time.time_ns() - DAY_NS
    for path in root.rglob("*"):
        os.utime(path, ns=(past, past))


def change(root: Path, count: int, rnd: random.Random) -> None:
    files = sorted(p for p in root.rglob("*") if p.is_file())
    for path in rnd.sample(files, min(count, len(files))):
        size = path.stat().st_size
        path.write_bytes(rnd.randbytes(size))  # same size: only the mtime tells


# A small process that starts each tool and reports the tool's own rusage. Started early, while
# the benchmark is small: a child's peak RSS counts the memory of the process it was forked from,
# and the benchmark itself grows with moto's stored objects.
LAUNCHER = r"""
import json, os, sys, time
for line in sys.stdin:
    argv = json.loads(line)
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.execvp(argv[0], argv)
    _, status, usage = os.wait4(pid, 0)
    print(json.dumps([time.perf_counter() - started, usage.ru_utime + usage.ru_stime,
                      usage.ru_maxrss, os.waitstatus_to_exitcode(status)]), flush=True)
"""


class Launcher:
    """Runs commands one at a time in a lean helper process; returns wall, CPU, peak RSS, code."""

    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", LAUNCHER], env=env, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def run(self, argv: list[str]) -> tuple[float, float, float, int]:
        import json

        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps(argv) + "\n")
        self.proc.stdin.flush()
        wall, cpu, rss_kib, code = json.loads(self.proc.stdout.readline())
        return wall, cpu, rss_kib / 1024, code

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait()


def measure(launcher: Launcher, tool: str, phase: str, argv: list[str]) -> Run:
    server_cpu = time.process_time()  # this process is idle but for moto's server threads
    wall, cpu, rss, code = launcher.run(argv)
    run = Run(tool, phase, wall, cpu, rss, code, time.process_time() - server_cpu)
    if code:
        print(f"  {tool} {phase} exited {code}")
    return run


def bucket_state(s3: Any, bucket: str, prefix: str) -> dict[str, tuple[int, str]]:
    state: dict[str, tuple[int, str]] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"]
            digest = hashlib.md5()
            for chunk in iter(lambda body=body: body.read(1 << 20), b""):
                digest.update(chunk)
            state[obj["Key"][len(prefix):]] = (obj["Size"], digest.hexdigest())
    return state


def local_state(root: Path) -> dict[str, tuple[int, str]]:
    state = {}
    for path in root.rglob("*"):
        if path.is_file():
            digest = hashlib.md5(path.read_bytes()).hexdigest()
            state[path.relative_to(root).as_posix()] = (path.stat().st_size, digest)
    return state


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", type=int, default=2000, help="number of 1-8 KiB files")
    parser.add_argument("--large-count", type=int, default=20, help="number of large files")
    parser.add_argument("--large-mb", type=int, default=8, help="size of each large file (MiB)")
    parser.add_argument("--huge-mb", type=int, default=200, help="size of the one huge file (MiB)")
    parser.add_argument("--changed", type=int, default=10, help="files changed before the last sync")
    parser.add_argument("--concurrency", type=int, default=16, help="opsfn upload threads")
    args = parser.parse_args()

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
                      AWS_DEFAULT_REGION="us-east-1", AWS_REGION="us-east-1")
    os.environ.pop("AWS_ENDPOINT_URL", None)
    launcher = Launcher(dict(os.environ, PYTHONWARNINGS="ignore"))
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    import boto3

    s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1")
    aws_bin = shutil.which("aws") or "aws"
    opsfn_cmd = ([shutil.which("opsfn")] if shutil.which("opsfn")
                 else [sys.executable, "-m", "opsfn.tooling.cli"])
    work = Path(tempfile.mkdtemp(prefix="opsfn-bench-"))
    rnd = random.Random(20261123)
    runs: list[Run] = []
    ok = True
    try:
        datasets = {"small": work / "small", "large": work / "large"}
        print(f"generating {args.small} small files, {args.large_count} x {args.large_mb} MiB, "
              f"1 x {args.huge_mb} MiB ...", flush=True)
        make_small(datasets["small"], args.small, rnd)
        make_large(datasets["large"], args.large_count, args.large_mb, args.huge_mb, rnd)
        for root in datasets.values():
            age(root)
        for name, root in datasets.items():
            buckets = {"aws": f"bench-aws-{name}", "opsfn": f"bench-opsfn-{name}"}
            for bucket in buckets.values():
                s3.create_bucket(Bucket=bucket)
            argv = {
                "aws": [aws_bin, "s3", "sync", str(root), f"s3://{buckets['aws']}/data",
                        "--endpoint-url", url, "--only-show-errors", "--no-progress"],
                "opsfn": [*opsfn_cmd, "sync", str(root), f"s3://{buckets['opsfn']}/data",
                          "--endpoint-url", url, "--concurrency", str(args.concurrency)],
            }
            for phase in ("first", "no-change", "changed"):
                if phase == "changed":
                    change(root, args.changed if name == "small" else min(args.changed, 2), rnd)
                for tool in ("aws", "opsfn"):
                    run = measure(launcher, tool, f"{name}/{phase}", argv[tool])
                    runs.append(run)
                    ok &= run.code == 0
                    print(f"  {run.phase:18} {tool:6} wall {run.wall:7.2f}s  cpu {run.cpu:7.2f}s  "
                          f"rss {run.rss_mib:6.0f} MiB   (moto server cpu {run.server_cpu:6.2f}s)",
                          flush=True)
                expected = local_state(root)
                same = all(bucket_state(s3, b, "data/") == expected for b in buckets.values())
                ok &= same
                print(f"  {name}/{phase}: buckets identical to the source (keys, sizes, MD5): {same}",
                      flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        launcher.close()
        server.stop()

    print("\nphase               wall aws/opsfn   cpu aws/opsfn   rss aws / opsfn (MiB)")
    by = {(r.tool, r.phase): r for r in runs}
    ratios: dict[str, tuple[float, float]] = {}
    for phase in dict.fromkeys(r.phase for r in runs):
        a, o = by[("aws", phase)], by[("opsfn", phase)]
        ratios[phase] = (a.wall / o.wall, a.cpu / o.cpu)
        print(f"{phase:18} {ratios[phase][0]:10.2f}x {ratios[phase][1]:14.2f}x "
              f"{a.rss_mib:10.0f} / {o.rss_mib:.0f}")
    checks = [
        ("small first sync wall >= 2x", ratios["small/first"][0] >= 2),
        ("small first sync cpu <= half", ratios["small/first"][1] >= 2),
        ("small no-change wall >= 3x", ratios["small/no-change"][0] >= 3),
        ("large first sync not slower", ratios["large/first"][0] >= 1),
        ("large no-change not slower", ratios["large/no-change"][0] >= 1),
        ("large changed not slower", ratios["large/changed"][0] >= 1),
    ]
    print()
    for label, passed in checks:
        print(f"{'MET ' if passed else 'MISS'} {label}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
