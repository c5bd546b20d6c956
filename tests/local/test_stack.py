"""`opsfn local` end to end: upload through the presigned POST, S3 -> route, schedules, actions."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from PIL import Image

from tests.local.conftest import LocalRun


def _cli(run: LocalRun, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    return subprocess.run([sys.executable, "-m", "opsfn.tooling.cli", *args], capture_output=True,
                          text=True, timeout=120, check=False, env=env)


def _upload_and_wait(run: LocalRun, name: str, file_type: str, data: bytes) -> dict:
    reply = requests.post(f"{run.url}/request-upload",
                          json={"fileName": name, "fileType": file_type}, timeout=30)
    assert reply.status_code == 200, reply.text
    upload = reply.json()
    assert upload["uploadPost"]["url"].startswith("http://127.0.0.1:")
    posted = requests.post(upload["uploadPost"]["url"], data=upload["uploadPost"]["fields"],
                           files={"file": ("original", data, upload["contentType"])},
                           headers={"Origin": run.url}, timeout=30)
    assert posted.status_code in (200, 201, 204), posted.text
    # The bucket's CORS rule (from the template) lets the page read S3's answer.
    assert posted.headers.get("Access-Control-Allow-Origin") in (run.url, "*")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = requests.get(f"{run.url}/get-results", params={"jobId": upload["jobId"]},
                           timeout=30).json()
        if job["status"] in ("complete", "error"):
            return job
        time.sleep(0.3)
    raise AssertionError(f"job did not finish: {job}")


def test_started_with_resources_and_custom_resources(local_stack: LocalRun) -> None:
    info = local_stack.info()
    assert info["local"] is True and info["ready"] is True
    assert {"UploadBucket", "JobsTable", "ActionQueue", "AlertTopic", "LandingBucket"} <= set(
        info["resources"])
    assert info["customResources"] == {"SslMaterials": "SUCCESS", "SmtpCredential": "SUCCESS",
                                       "ActiveReceiptRuleSet": "SUCCESS"}
    assert "database-auto-stop" in info["schedules"]


def test_the_routes_role_is_a_role_the_emulators_sts_can_assume(local_stack: LocalRun) -> None:
    """Routes run with sessions of it; a route too large for an inline policy (scale_up) with its
    domain's managed session policy."""
    import boto3

    info = local_stack.info()
    assert info["resources"]["RoutesRole"] == "opsfn-local-routesrole"
    managed = info["resources"]["IncidentsSessionPolicy"]
    assert managed.startswith("arn:aws:iam::")
    options = {"endpoint_url": info["endpoint"], "region_name": "us-east-1",
               "aws_access_key_id": "local", "aws_secret_access_key": "local"}
    role = boto3.client("iam", **options).get_role(RoleName="opsfn-local-routesrole")["Role"]
    assert role["Arn"].endswith(":role/opsfn-local-routesrole")
    session = boto3.client("sts", **options).assume_role(
        RoleArn=role["Arn"], RoleSessionName="opsfn-test",
        PolicyArns=[{"arn": managed}])
    assert session["Credentials"]["AccessKeyId"]


def test_dicom_upload_is_converted_and_labelled(local_stack: LocalRun) -> None:
    from pydicom.data import get_testdata_file

    data = Path(get_testdata_file("CT_small.dcm")).read_bytes()
    job = _upload_and_wait(local_stack, "scan.dcm", "application/dicom", data)
    assert job["status"] == "complete", job
    assert job["results"]["Labels"], job
    assert job["metadata"]["modality"] == "CT"
    image = requests.get(job["imageUrl"], timeout=30)
    assert image.status_code == 200
    png = Image.open(io.BytesIO(image.content))
    assert png.format == "PNG" and png.size == (128, 128)


def test_png_upload_completes(local_stack: LocalRun) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (200, 120), (30, 120, 200)).save(buffer, "PNG")
    job = _upload_and_wait(local_stack, "picture.png", "image/png", buffer.getvalue())
    assert job["status"] == "complete", job


def test_bad_request_is_a_400_with_field_path(local_stack: LocalRun) -> None:
    reply = requests.post(f"{local_stack.url}/request-upload", json={"fileType": "image/png"},
                          timeout=30)
    assert reply.status_code == 400
    assert "fileName" in reply.text
    assert requests.get(f"{local_stack.url}/no-such-route", timeout=30).status_code == 404


def test_fire_a_schedule_from_the_cli(local_stack: LocalRun) -> None:
    result = _cli(local_stack, "local", "fire", "database-auto-stop", "--url", local_stack.url)
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["schedule"] == "schedule:database-auto-stop"
    assert body["result"]["database"] == "opsfn-local-db"
    missing = _cli(local_stack, "local", "fire", "no-such-schedule", "--url", local_stack.url)
    assert missing.returncode == 1 and "no schedule" in missing.stderr


def test_invoke_an_action_on_the_running_stack(local_stack: LocalRun) -> None:
    result = _cli(local_stack, "invoke", "health", "--local", "--local-url", local_stack.url)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["status"] == "ok"
    stop = _cli(local_stack, "invoke", "stop_database", "--local", "--local-url", local_stack.url)
    assert stop.returncode == 0, stop.stderr
    unknown = _cli(local_stack, "invoke", "no_such_action", "--local", "--local-url",
                   local_stack.url)
    assert unknown.returncode == 1
    assert unknown.stderr.startswith("error: NotFound:")


def test_eventbridge_event_reaches_the_glue_route(local_stack: LocalRun) -> None:
    reply = requests.post(f"{local_stack.url}/_local/events", json={
        "source": "aws.glue", "detail-type": "Glue Job State Change",
        "detail": {"jobName": "etl", "jobRunId": "jr_1", "state": "SUCCEEDED",
                   "message": "done"}}, timeout=30).json()
    assert reply["ok"] is True, reply


def test_landed_json_reaches_the_glue_route_through_s3_notifications(local_stack: LocalRun
                                                                     ) -> None:
    import boto3

    info = local_stack.info()
    session = boto3.session.Session(aws_access_key_id="local", aws_secret_access_key="local",
                                    region_name="us-east-1")
    s3 = session.client("s3", endpoint_url=info["endpoint"])
    glue = session.client("glue", endpoint_url=info["endpoint"])
    bucket = info["resources"]["LandingBucket"]
    key = "fhir_data/json/bundles/bundles_20250101_120000.json"  # the template's default layout
    s3.put_object(Bucket=bucket, Key=key,
                  Body=json.dumps({"resourceType": "Bundle", "entry": []}).encode())
    s3.put_object(Bucket=bucket, Key="fhir_data/readme.txt", Body=b"not for the ETL")
    deadline = time.monotonic() + 30
    runs: list = []
    while time.monotonic() < deadline and not runs:
        runs = glue.get_workflow_runs(Name="opsfn-local-etl").get("Runs", [])
        time.sleep(0.3)
    assert len(runs) == 1, runs
    assert runs[0]["WorkflowRunProperties"]["key"] == key
    assert runs[0]["WorkflowRunProperties"]["bucket"] == bucket


def test_zz_clean_shutdown(local_stack: LocalRun) -> None:
    """Last in this module (and after the browser test): Ctrl-C stops everything cleanly."""
    assert local_stack.stop() == 0
    log = local_stack.log()
    assert log.rstrip().endswith("stopped")
    assert "Traceback" not in log
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{local_stack.url}/health", timeout=5)


def test_the_session_policies_variable_names_each_managed_policy_by_name(
        template: dict[str, Any]) -> None:
    """What the function's environment holds locally: ``domain=name`` for each managed policy."""
    from opsfn.tooling.local.template_eval import Evaluator

    evaluator = Evaluator(template, "us-east-1")
    names = {}
    for logical, resource in template["Resources"].items():
        if resource["Type"] == "AWS::IAM::ManagedPolicy":
            names[logical] = f"opsfn-local-{logical.lower()}"
            evaluator.refs[logical] = f"arn:aws:iam::123456789012:policy/{names[logical]}"
    value = evaluator.value(template["Resources"]["OpsFunction"]["Properties"]["Environment"][
        "Variables"]["OPSFN_SESSION_POLICIES"])
    assert sorted(value.split(",")) == sorted(
        f"{logical.removesuffix('SessionPolicy').lower()}={name}" for logical, name in names.items())
