"""What running the function as Lambda does costs each call of ``opsfn local``: environments of
their own under awslambdaric against the handler called in process (``--in-process``), the
reference, measured in the same run on the same template.

Both stacks start side by side on free ports; each is warmed up, then called in turn: a boto3
Lambda ``Invoke`` of ``health`` and a ``GET /health``. Medians and 90th percentiles are printed,
with the ratio to the reference. The first start builds the locked libraries for Python 3.13 once
(cached).

    python bench/local_runtime.py [--calls 200]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(workdir: Path, *extra: str) -> tuple[subprocess.Popen[bytes], str]:
    """``opsfn local`` on a free port, once it says it is ready."""
    port = free_port()
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
           "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1"}
    env.pop("AWS_ENDPOINT_URL", None)
    log = (workdir / "local.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "opsfn.tooling.cli", "local", "--port", str(port), "--moto-port",
         "0", "--no-schedules", "--state-dir", str(workdir / "state"), "--template",
         str(ROOT / "infra" / "template.yaml"), *extra],
        stdout=log, stderr=subprocess.STDOUT, env=env, cwd=workdir)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"opsfn local exited: {(workdir / 'local.log').read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_local/info", timeout=5) as reply:
                if json.loads(reply.read()).get("ready"):
                    return process, url
        except OSError:
            pass
        time.sleep(0.3)
    process.kill()
    raise SystemExit("opsfn local did not get ready")


def measure(url: str, calls: int) -> dict[str, list[float]]:
    """Milliseconds per call of each kind, alternating, after 20 calls to warm up."""
    import boto3

    lam = boto3.client("lambda", endpoint_url=url, region_name="us-east-1",
                       aws_access_key_id="local", aws_secret_access_key="local")

    def invoke() -> None:
        lam.invoke(FunctionName="OpsFunction", Payload=b'{"action": "health"}')["Payload"].read()

    def get() -> None:
        with urllib.request.urlopen(f"{url}/health", timeout=10) as reply:
            reply.read()

    kinds: dict[str, Any] = {"Lambda Invoke health": invoke, "GET /health": get}
    for call in kinds.values():
        for _ in range(20):
            call()
    times: dict[str, list[float]] = {name: [] for name in kinds}
    for _ in range(calls):
        for name, call in kinds.items():
            started = time.perf_counter()
            call()
            times[name].append((time.perf_counter() - started) * 1000)
    return times


def p90(values: list[float]) -> float:
    return sorted(values)[int(len(values) * 0.9) - 1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="opsfn-bench-local-") as scratch:
        stacks = {}
        try:
            for mode, extra in (("awslambdaric", ()), ("in-process", ("--in-process",))):
                workdir = Path(scratch) / mode
                workdir.mkdir()
                stacks[mode] = start(workdir, *extra)
            log = (Path(scratch) / "awslambdaric" / "local.log").read_text()
            if "runs as Lambda runs it" not in log:
                print("opsfn local could not run the function under awslambdaric here:")
                print("\n".join(line for line in log.splitlines() if "in this process" in line))
                return 1
            results = {mode: measure(url, args.calls) for mode, (_, url) in stacks.items()}
        finally:
            for process, _ in stacks.values():
                process.terminate()
                process.wait(timeout=30)
    for kind in results["in-process"]:
        ours, reference = results["awslambdaric"][kind], results["in-process"][kind]
        print(f"{kind:22} awslambdaric median {statistics.median(ours):6.2f} ms "
              f"p90 {p90(ours):6.2f} | in process median {statistics.median(reference):6.2f} ms "
              f"p90 {p90(reference):6.2f} | ratio "
              f"{statistics.median(ours) / statistics.median(reference):.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
