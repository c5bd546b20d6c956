"""Cold start of GET /get-results: opsfn against a single-purpose function, same run, same server.

Each sample is a fresh Python process that imports its handler and serves one API Gateway v2
request against a moto server (started here), timed from spawn to exit. The reference is written
like the image analysis backend's results function: boto3 DynamoDB ``get_item`` and nothing
else. Two cases: a job still pending (the browser's polling case; no URL to sign) and a complete
job (opsfn also signs a fresh image URL, which needs an S3 client). The child also reports
whether numpy, pydicom or PIL were imported. Target: median ratio <= 1.1 and no imaging library.

    python bench/imaging_cold_start.py [--runs 15]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REFERENCE = '''
import json, os, boto3
client = boto3.client("dynamodb")

def lambda_handler(event, context):
    job_id = (event.get("queryStringParameters") or {}).get("jobId")
    item = client.get_item(TableName=os.environ["TABLE_NAME"], Key={"jobId": {"S": job_id}}).get("Item")
    if not item:
        return {"statusCode": 404, "body": json.dumps({"error": "not found"})}
    return {"statusCode": 200, "body": json.dumps({"status": item["status"]["S"]})}
'''

DRIVER = '''
import sys, json
sys.path.insert(0, {path!r})
from {module} import lambda_handler
event = {{"version": "2.0", "routeKey": "$default", "rawPath": "/get-results",
          "rawQueryString": "jobId={job}", "headers": {{}}, "queryStringParameters": {{"jobId": "{job}"}},
          "requestContext": {{"http": {{"method": "GET", "path": "/get-results"}}, "requestId": "r",
                              "stage": "$default", "domainName": "x.execute-api.us-east-1.amazonaws.com"}},
          "isBase64Encoded": False}}
reply = lambda_handler(event, None)
heavy = [m for m in ("numpy", "pydicom", "PIL") if m in sys.modules]
print(json.dumps({{"status": reply["statusCode"], "heavy": heavy}}))
'''


def run_once(code: str, env: dict[str, str]) -> tuple[float, dict[str, object]]:
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         check=True)
    elapsed = time.perf_counter() - started
    return elapsed, json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()

    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    env = {**os.environ, "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "bench",
           "AWS_SECRET_ACCESS_KEY": "bench", "AWS_REGION": "us-east-1",
           "AWS_DEFAULT_REGION": "us-east-1", "TABLE_NAME": "bench-jobs",
           "UPLOAD_BUCKET": "bench-uploads", "POWERTOOLS_METRICS_DISABLED": "true",
           "POWERTOOLS_LOG_LEVEL": "WARNING"}
    session = boto3.session.Session(aws_access_key_id="bench", aws_secret_access_key="bench",
                                    region_name="us-east-1")
    dynamodb = session.client("dynamodb", endpoint_url=endpoint)
    dynamodb.create_table(TableName="bench-jobs", BillingMode="PAY_PER_REQUEST",
                          AttributeDefinitions=[{"AttributeName": "jobId", "AttributeType": "S"}],
                          KeySchema=[{"AttributeName": "jobId", "KeyType": "HASH"}])
    session.client("s3", endpoint_url=endpoint).create_bucket(Bucket="bench-uploads")
    jobs = {"pending": str(uuid.uuid4()), "complete": str(uuid.uuid4())}
    for status, job in jobs.items():
        item = {"jobId": {"S": job}, "status": {"S": status}, "fileType": {"S": "image/png"}}
        if status == "complete":
            item["imageKey"] = {"S": f"converted/{job}/image.png"}
            item["results"] = {"M": {"labels": {"L": []}}}
        dynamodb.put_item(TableName="bench-jobs", Item=item)

    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "seed_results.py").write_text(REFERENCE)
        src = str(Path(__file__).resolve().parents[1] / "src")
        print(f"{'case':10} {'reference ms':>13} {'opsfn ms':>9} {'ratio':>6}  imaging imported")
        verdicts = []
        for case, job in jobs.items():
            ref_code = DRIVER.format(path=tmp, module="seed_results", job=job)
            ours_code = DRIVER.format(path=src, module="opsfn.handler", job=job)
            run_once(ref_code, env)  # warm the page cache and the server, not measured
            run_once(ours_code, env)
            ref_times, our_times, heavy = [], [], set()
            for _ in range(args.runs):  # interleaved, so machine noise hits both alike
                elapsed, _result = run_once(ref_code, env)
                ref_times.append(elapsed)
                elapsed, result = run_once(ours_code, env)
                assert result["status"] == 200, result
                heavy.update(result["heavy"])  # type: ignore[arg-type]
                our_times.append(elapsed)
            ref, ours = statistics.median(ref_times), statistics.median(our_times)
            ratio = ours / ref
            verdicts.append(ratio <= 1.1 and not heavy)
            print(f"{case:10} {ref * 1000:13.0f} {ours * 1000:9.0f} {ratio:6.2f}  "
                  f"{sorted(heavy) or 'none'}")
        # For context: the cost of importing the handler alone (routes register from the manifest;
        # route modules load on first use), measured in the same run.
        imports = {}
        for label, code in (("python -c pass", "pass"), ("import boto3", "import boto3"),
                            ("import opsfn.handler", f"import sys; sys.path.insert(0, {src!r}); "
                                                     "import opsfn.handler")):
            samples = []
            for _ in range(args.runs):
                started = time.perf_counter()
                subprocess.run([sys.executable, "-c", code], env=env, check=True)
                samples.append(time.perf_counter() - started)
            imports[label] = statistics.median(samples)
        print("fresh-process medians: " + ", ".join(
            f"{label} {value * 1000:.0f} ms" for label, value in imports.items()))
    server.stop()
    print(f"target (ratio <= 1.1, no imaging library): {'met' if all(verdicts) else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
