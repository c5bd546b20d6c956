"""How fast, and in how much memory, landed FHIR files are checked: the streaming check vs references.

    python bench/fhir_landing.py [--mib 2048] [--loads-mib 256] [--array-mib 256] [--s3-mib 2048]

Writes an NDJSON file of ``--mib`` MiB, a smaller one of ``--loads-mib`` MiB and a JSON array (the
ETL generator's layout) of ``--array-mib`` MiB, with resources shaped like the generator's, then
measures each way of reading them in a fresh process (so each peak RSS is its own):

* ``check``: opsfn's streaming check (``opsfn.routes.etl.validate``), 1 MiB chunks;
* ``read``: the same chunks read and dropped, no parsing (the I/O floor);
* ``loads``: the plain way, the whole file in memory, then ``json.loads`` (per line for NDJSON);
  it needs several times the file in memory, so for NDJSON it runs on the smaller file.

With ``--s3-mib`` the NDJSON file is also put on a local moto server and read as the route reads it
(``landing.inspect`` through boto3's StreamingBody), against reading that StreamingBody without
parsing. It prints MiB/s and peak RSS per run, the ratios to the references, and the time a 2 GiB
file takes at the measured rate against Lambda's 900 s limit.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

MiB = 1024 * 1024
CHUNK = MiB
LAMBDA_LIMIT_S = 900


def _resources() -> Iterator[dict[str, Any]]:
    """Patients, encounters and conditions shaped like the ETL generator's output."""
    index = 0
    while True:
        index += 1
        patient = f"{index:08d}-8f5b-4a55-9a8e-2b1e7f9d0c11"
        yield {"resourceType": "Patient", "id": patient, "active": True,
               "meta": {"versionId": "1", "lastUpdated": "2025-01-01T12:00:00+00:00"},
               "identifier": [{"use": "usual", "type": {"text": "Medical Record Number"},
                               "system": "MetricCare-MRN", "value": f"MC-{index % 900000 + 100000}"}],
               "gender": "female" if index % 2 else "male", "birthDate": "1970-01-01",
               "address": [{"use": "home", "type": "both", "line": [f"{index} Main St"],
                            "city": "Springfield", "state": "NC", "country": "USA"}],
               "managingOrganization": {"reference": "Organization/org-metriccare",
                                        "display": "MetricCare General Hospital"}}
        yield {"resourceType": "Encounter", "id": f"enc-{patient}", "status": "completed",
               "subject": {"reference": f"Patient/{patient}"},
               "actualPeriod": {"start": "2025-01-01T08:00:00Z", "end": "2025-01-04T14:30:00Z"},
               "type": [{"text": "Inpatient"}],
               "serviceProvider": {"reference": "Organization/org-metriccare"}}
        yield {"resourceType": "Condition", "id": f"con-{patient}",
               "subject": {"reference": f"Patient/{patient}"},
               "encounter": {"reference": f"Encounter/enc-{patient}"},
               "clinicalStatus": {"text": "active"},
               "code": {"coding": [{"code": "233604007", "display": "Pneumonia"}],
                        "text": "Pneumonia"}}


def write_ndjson(path: Path, size: int) -> None:
    with path.open("wb") as out:
        written = 0
        for item in _resources():
            line = json.dumps(item, separators=(",", ":")).encode() + b"\n"
            out.write(line)
            written += len(line)
            if written >= size:
                return


def write_array(path: Path, size: int) -> None:
    """One JSON array, indented as the generator's ``json.dumps(data, indent=2)`` writes it."""
    with path.open("w", encoding="utf-8") as out:
        out.write("[\n")
        written, first = 2, True
        for item in _resources():
            text = ("" if first else ",\n") + "\n".join(
                "  " + line for line in json.dumps(item, indent=2).splitlines())
            out.write(text)
            written += len(text)
            first = False
            if written >= size:
                break
        out.write("\n]")


# -- the measured runs (each in its own process) ----------------------------------------------------
def _file_chunks(path: str) -> Iterator[bytes]:
    with open(path, "rb") as source:
        while chunk := source.read(CHUNK):
            yield chunk


def run_mode(mode: str, path: str) -> dict[str, Any]:
    from opsfn.routes.etl import validate

    started = time.perf_counter()
    outcome: Any = None
    if mode == "ndjson-check":
        outcome = validate.check_ndjson(_file_chunks(path), 64 * MiB)
    elif mode == "array-check":
        outcome = validate.check_json(_file_chunks(path), 64 * MiB)
    elif mode in ("ndjson-read", "array-read"):
        outcome = sum(len(c) for c in _file_chunks(path))
    elif mode == "ndjson-loads":
        with open(path, "rb") as source:
            outcome = len([json.loads(line) for line in source.read().splitlines() if line])
    elif mode == "array-loads":
        with open(path, "rb") as source:
            outcome = len(json.loads(source.read()))
    elif mode == "s3-check":
        from opsfn.routes.etl import landing

        bucket, key = path.split("/", 1)
        outcome = landing.inspect(bucket, key, landing.NDJSON, lambda: None)
    elif mode == "s3-read":
        from opsfn.services import aws

        bucket, key = path.split("/", 1)
        body = aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"]
        outcome = sum(len(chunk) for chunk in iter(lambda: body.read(CHUNK), b""))
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "peak_rss_mib": peak_rss_mib(), "outcome": repr(outcome)[:120]}


def peak_rss_mib() -> float:
    """This process's peak resident set: VmHWM (ru_maxrss survives exec, so it would count the
    parent's memory too, here the moto server holding the file)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(mode: str, path: str, size: int, env: dict[str, str] | None = None) -> dict[str, Any]:
    reply = subprocess.run([sys.executable, __file__, "--child", mode, path], check=False,
                           capture_output=True, text=True, env=env)
    if reply.returncode != 0:
        sys.exit(f"{mode} failed:\n{reply.stderr[-2000:]}")
    result = json.loads(reply.stdout.strip().splitlines()[-1])
    result.update(mode=mode, mib=size / MiB, mib_s=size / MiB / result["seconds"])
    print(f"  {mode:<14} {result['mib']:>7.0f} MiB {result['seconds']:>7.1f} s "
          f"{result['mib_s']:>7.1f} MiB/s  peak RSS {result['peak_rss_mib']:>7.0f} MiB  "
          f"{result['outcome']}", flush=True)
    return result


def compare(check: dict[str, Any], reference: dict[str, Any]) -> None:
    print(f"  {check['mode']} vs {reference['mode']}: speed x{check['mib_s'] / reference['mib_s']:.2f}, "
          f"peak RSS x{check['peak_rss_mib'] / reference['peak_rss_mib']:.2f}")


def _s3_runs(source: Path, size: int) -> list[dict[str, Any]]:
    import logging

    import boto3
    from boto3.s3.transfer import TransferConfig
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        env = {**os.environ, "AWS_ENDPOINT_URL": f"http://{host}:{port}",
               "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
               "AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_METRICS_DISABLED": "true"}
        from botocore.config import Config

        s3 = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                          aws_access_key_id="bench", aws_secret_access_key="bench",
                          config=Config(read_timeout=900, retries={"max_attempts": 1}))
        s3.create_bucket(Bucket="landing")
        key = "fhir_data/ndjson/bench.ndjson"
        s3.upload_file(str(source), "landing", key,
                       Config=TransferConfig(multipart_chunksize=64 * MiB, max_concurrency=2))
        print(f"S3 (moto server on loopback), {size / MiB:.0f} MiB NDJSON through StreamingBody:")
        read = measure("s3-read", f"landing/{key}", size, env)
        check = measure("s3-check", f"landing/{key}", size, env)
        compare(check, read)
        return [read, check]
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mib", type=int, default=2048, help="NDJSON file size (MiB)")
    parser.add_argument("--loads-mib", type=int, default=256,
                        help="NDJSON size for the json.loads-everything reference (MiB)")
    parser.add_argument("--array-mib", type=int, default=256, help="JSON array file size (MiB)")
    parser.add_argument("--s3-mib", type=int, default=2048,
                        help="NDJSON size read through S3 (0: skip)")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(run_mode(*args.child)))
        return 0
    with tempfile.TemporaryDirectory(prefix="fhir-landing-") as folder:
        ndjson, sample = Path(folder) / "bench.ndjson", Path(folder) / "sample.ndjson"
        array = Path(folder) / "bench.json"
        write_ndjson(ndjson, args.mib * MiB)
        write_ndjson(sample, args.loads_mib * MiB)
        write_array(array, args.array_mib * MiB)
        size, sample_size, array_size = (p.stat().st_size for p in (ndjson, sample, array))
        print(f"NDJSON, {size / MiB:.0f} MiB from a local file:")
        read = measure("ndjson-read", str(ndjson), size)
        check = measure("ndjson-check", str(ndjson), size)
        compare(check, read)
        print(f"NDJSON, {sample_size / MiB:.0f} MiB (json.loads of the whole file needs it all in "
              "memory, so it runs on this smaller file):")
        sample_check = measure("ndjson-check", str(sample), sample_size)
        loads = measure("ndjson-loads", str(sample), sample_size)
        compare(sample_check, loads)
        print(f"JSON array (the generator's layout), {array_size / MiB:.0f} MiB:")
        array_check = measure("array-check", str(array), array_size)
        array_loads = measure("array-loads", str(array), array_size)
        compare(array_check, array_loads)
        rates = [check["mib_s"]]
        if args.s3_mib:
            s3_source = ndjson
            if args.s3_mib != args.mib:
                s3_source = Path(folder) / "s3.ndjson"
                write_ndjson(s3_source, args.s3_mib * MiB)
            rates.append(_s3_runs(s3_source, s3_source.stat().st_size)[1]["mib_s"])
        slowest = min(rates)
        print(f"2 GiB at the slowest measured check rate ({slowest:.1f} MiB/s): "
              f"{2048 / slowest:.0f} s of Lambda's {LAMBDA_LIMIT_S} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
