"""Cold start: a fresh process importing opsfn.handler and invoking ``health``, against a fresh
process doing only ``import boto3``, alternated in the same run.

    python bench/cold_start.py [--runs 21]

Prints the median wall time of each, their ratio (target <= 1.0) and the heavy modules the opsfn
process imported (target: none of numpy, pydicom, PIL, cryptography, redis).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HEAVY = ("numpy", "pydicom", "PIL", "cryptography", "redis", "boto3", "botocore.client")

OPSFN = (
    "import sys, opsfn.handler as h\n"
    "class C:\n"
    "    aws_request_id = 'bench'\n"
    "    def get_remaining_time_in_millis(self): return 30000\n"
    "r = h.lambda_handler({'action': 'health'}, C())\n"
    "assert r['status'] == 'ok'\n"
    f"print(__import__('json').dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
)
BOTO3 = "import boto3\n"


def run(code: str, env: dict[str, str]) -> tuple[float, str]:
    """Wall seconds of one fresh interpreter running ``code``, and its stdout."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=True)
    return time.perf_counter() - started, done.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description="cold start of opsfn against import boto3")
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    env = {**os.environ, "POWERTOOLS_METRICS_DISABLED": "true", "AWS_REGION": "us-east-1",
           "PYTHONDONTWRITEBYTECODE": "1"}
    run(OPSFN, env)  # write bytecode caches once, as a deployment package ships them
    run(BOTO3, env)
    opsfn_times, boto_times = [], []
    heavy: list[str] = []
    for _ in range(args.runs):
        elapsed, out = run(OPSFN, env)
        opsfn_times.append(elapsed)
        heavy = json.loads(out.strip().splitlines()[-1])
        boto_times.append(run(BOTO3, env)[0])
    bare = statistics.median(run("pass", env)[0] for _ in range(5))
    opsfn_ms = statistics.median(opsfn_times) * 1000
    boto_ms = statistics.median(boto_times) * 1000
    ratio = opsfn_ms / boto_ms
    print(f"python -c pass:                  {bare * 1000:7.1f} ms")
    print(f"import boto3:                    {boto_ms:7.1f} ms (median of {args.runs})")
    print(f"opsfn.handler + health invoke:   {opsfn_ms:7.1f} ms (median of {args.runs})")
    print(f"ratio opsfn / import boto3:      {ratio:7.3f} (target <= 1.0)")
    print(f"heavy modules imported by opsfn: {heavy or 'none'}")
    return 0 if ratio <= 1.0 and not heavy else 1


if __name__ == "__main__":
    sys.exit(main())
