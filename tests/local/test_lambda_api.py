"""The Lambda API on `opsfn local`, driven by real clients: boto3, the AWS CLI and the JavaScript
SDK v3, against a running stack on the same port as the HTTP API."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from botocore.exceptions import ClientError

from tests import nodejs
from tests.local.conftest import LocalRun, activity, aws_client, wait_for

FUNCTION = "OpsFunction"
ARN = f"arn:aws:lambda:us-east-1:123456789012:function:{FUNCTION}"
JS = Path(__file__).parent / "js"


@pytest.fixture(scope="module")
def lam(local_stack: LocalRun) -> Any:
    return aws_client(local_stack, "lambda", endpoint=local_stack.url)


def _payload(reply: dict[str, Any]) -> Any:
    return json.loads(reply["Payload"].read())


@pytest.mark.parametrize("name", [FUNCTION, ARN, f"123456789012:function:{FUNCTION}",
                                  f"{FUNCTION}:$LATEST", f"{ARN}:$LATEST"])
def test_invoke_by_name_arn_and_partial_arn(lam: Any, name: str) -> None:
    reply = lam.invoke(FunctionName=name, Payload=json.dumps({"action": "health"}).encode())
    assert reply["StatusCode"] == 200
    assert reply["ExecutedVersion"] == "$LATEST"
    assert "FunctionError" not in reply
    assert _payload(reply)["status"] == "ok"


def test_failure_is_the_runtimes_error_payload(lam: Any) -> None:
    reply = lam.invoke(FunctionName=FUNCTION, Payload=b'{"action": "no_such_action"}')
    assert reply["StatusCode"] == 200
    assert reply["FunctionError"] == "Unhandled"
    error = _payload(reply)
    assert set(error) == {"errorMessage", "errorType", "requestId", "stackTrace"}
    assert error["errorType"] == "NotFound"
    assert error["errorMessage"].startswith("unknown action 'no_such_action'")
    assert error["requestId"] == reply["ResponseMetadata"]["RequestId"]
    assert isinstance(error["stackTrace"], list)


def test_log_tail_is_the_calls_log_base64(lam: Any) -> None:
    reply = lam.invoke(FunctionName=FUNCTION, Payload=b'{"action": "no_such_action"}',
                       LogType="Tail")
    log = base64.b64decode(reply["LogResult"]).decode()
    request_id = reply["ResponseMetadata"]["RequestId"]
    assert log.startswith(f"START RequestId: {request_id} Version: $LATEST")
    assert f"END RequestId: {request_id}" in log
    assert f"REPORT RequestId: {request_id}\tDuration: " in log
    assert '"message":"event failed"' in log
    # The template's LoggingConfig is JSON: the runtime's error line is one JSON object.
    errors = [json.loads(line) for line in log.splitlines() if '"level": "ERROR"' in line]
    assert [(e["errorType"], e["requestId"]) for e in errors] == [("NotFound", request_id)]
    plain = lam.invoke(FunctionName=FUNCTION, Payload=b'{"action": "health"}')
    assert "LogResult" not in plain


def test_log_tail_is_at_most_4_kb_and_ends_with_the_report(lam: Any) -> None:
    reply = lam.invoke(FunctionName=FUNCTION, Payload=b'{"action": "health"}', LogType="Tail")
    log = base64.b64decode(reply["LogResult"])
    assert len(log) <= 4096
    assert log.decode().rstrip("\n").split("\n")[-1].startswith("REPORT RequestId:")


def test_dry_run_is_204_and_runs_nothing(lam: Any, local_stack: LocalRun) -> None:
    before = activity(local_stack)[-1]["seq"] if activity(local_stack) else 0
    reply = lam.invoke(FunctionName=FUNCTION, InvocationType="DryRun",
                       Payload=b'{"action": "health"}')
    assert reply["StatusCode"] == 204
    assert _payload_bytes(reply) == b""
    assert activity(local_stack, before) == []


def _payload_bytes(reply: dict[str, Any]) -> bytes:
    return bytes(reply["Payload"].read())


def test_event_failure_reaches_the_failed_events_queue(lam: Any, local_stack: LocalRun) -> None:
    sqs = aws_client(local_stack, "sqs")
    url = sqs.get_queue_url(QueueName=local_stack.info()["resources"]["FailedEventsQueue"].rsplit(
        "/", 1)[-1])["QueueUrl"]
    reply = lam.invoke(FunctionName=FUNCTION, InvocationType="Event",
                       Payload=b'{"action": "no_such_action", "marker": "event-failure"}')
    assert reply["StatusCode"] == 202

    def record() -> dict[str, Any] | None:
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get(
                "Messages", []):
            body = json.loads(message["Body"])
            if body.get("requestPayload", {}).get("marker") == "event-failure":
                return dict(body)
        return None

    found = wait_for(record, timeout=30)
    assert found["version"] == "1.0"
    assert found["requestContext"]["condition"] == "RetriesExhausted"
    assert found["requestContext"]["approximateInvokeCount"] == 3  # MaximumRetryAttempts: 2
    assert found["requestContext"]["functionArn"] == f"{ARN}:$LATEST"
    assert found["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST",
                                        "functionError": "Unhandled"}
    assert found["responsePayload"]["errorType"] == "NotFound"


def test_event_success_runs_in_the_background(lam: Any, local_stack: LocalRun) -> None:
    before = activity(local_stack)[-1]["seq"]
    started = time.monotonic()
    assert lam.invoke(FunctionName=FUNCTION, InvocationType="Event",
                      Payload=b'{"action": "health"}')["StatusCode"] == 202
    entry = wait_for(lambda: [e for e in activity(local_stack, before)
                              if e["trigger"] == "Lambda Invoke (Event)"])[0]
    assert entry["ok"] is True and entry["routes"] == [{"route": "action:health", "ok": True}]
    assert time.monotonic() - started < 30


def test_payload_limits_have_lambdas_error_shapes(lam: Any, local_stack: LocalRun) -> None:
    with pytest.raises(ClientError) as sync_error:
        lam.invoke(FunctionName=FUNCTION, Payload=b'{"pad": "' + b"x" * (6 * 1024 * 1024) + b'"}')
    error = sync_error.value.response
    assert error["Error"]["Code"] == "RequestEntityTooLargeException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert error["Error"]["Message"] == ("Request must be smaller than 6291456 bytes for the "
                                         "InvokeFunction operation")
    body = b'{"pad": "' + b"x" * (256 * 1024) + b'"}'
    with pytest.raises(ClientError) as async_error:
        lam.invoke(FunctionName=FUNCTION, InvocationType="Event", Payload=body)
    assert async_error.value.response["Error"]["Code"] == "RequestEntityTooLargeException"
    assert async_error.value.response["Error"]["Message"] == (
        f"{len(body)} byte payload is too large for the Event invocation type (limit 262144 bytes)")
    # Within 6 MB a synchronous call with the same payload goes through.
    ok = lam.invoke(FunctionName=FUNCTION, Payload=json.dumps(
        {"action": "health", "pad": "x" * (256 * 1024)}).encode())
    assert ok["StatusCode"] == 200


def test_unknown_function_is_resource_not_found(lam: Any, local_stack: LocalRun) -> None:
    for name, arn in [("nope", "arn:aws:lambda:us-east-1:123456789012:function:nope"),
                      (f"{FUNCTION}:v2", f"{ARN}:v2"),
                      ("arn:aws:lambda:eu-west-1:123456789012:function:OpsFunction",
                       "arn:aws:lambda:eu-west-1:123456789012:function:OpsFunction")]:
        with pytest.raises(lam.exceptions.ResourceNotFoundException) as missing:
            lam.invoke(FunctionName=name, Payload=b"{}")
        assert missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
        assert missing.value.response["Error"]["Message"] == f"Function not found: {arn}"
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function(FunctionName="nope")
    raw = requests.post(f"{local_stack.url}/2015-03-31/functions/nope/invocations", data=b"{}",
                        timeout=10)
    assert raw.status_code == 404
    assert raw.headers["x-amzn-ErrorType"] == "ResourceNotFoundException"
    assert raw.json() == {"Type": "User", "Message": "Function not found: arn:aws:lambda:"
                                                     "us-east-1:123456789012:function:nope"}


def test_bad_json_is_invalid_request_content(lam: Any) -> None:
    with pytest.raises(ClientError) as bad:
        lam.invoke(FunctionName=FUNCTION, Payload=b"{not json")
    assert bad.value.response["Error"]["Code"] == "InvalidRequestContentException"
    assert bad.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_get_function_and_list_functions(lam: Any) -> None:
    for name in (FUNCTION, ARN, f"123456789012:function:{FUNCTION}"):
        config = lam.get_function(FunctionName=name)["Configuration"]
        assert config["FunctionName"] == FUNCTION and config["FunctionArn"] == ARN
    config = lam.get_function(FunctionName=FUNCTION)["Configuration"]
    assert config["Runtime"] == "python3.13"
    assert config["Handler"] == "opsfn.handler.lambda_handler"
    assert config["MemorySize"] == 2048 and config["Architectures"] == ["arm64"]
    assert config["State"] == "Active" and config["Version"] == "$LATEST"
    assert config["Environment"]["Variables"]["UPLOAD_BUCKET"] == "opsfn-local-uploadbucket"
    assert lam.get_function_configuration(FunctionName=FUNCTION)["FunctionArn"] == ARN
    functions = lam.list_functions()["Functions"]
    assert [f["FunctionArn"] for f in functions] == [ARN]
    paginated = [f["FunctionName"] for page in lam.get_paginator("list_functions").paginate()
                 for f in page["Functions"]]
    assert paginated == [FUNCTION]


def test_http_api_and_lambda_api_share_the_port(local_stack: LocalRun, lam: Any) -> None:
    assert requests.get(f"{local_stack.url}/health", timeout=10).json()["status"] == "ok"
    assert _payload(lam.invoke(FunctionName=FUNCTION, Payload=b'{"action":"health"}'))[
        "status"] == "ok"


def _aws_cli() -> str:
    found = shutil.which("aws", path=str(Path(sys.executable).parent)) or shutil.which("aws")
    if found is None:
        pytest.skip("needs the AWS CLI (pip install awscli: the dev extra)")
    return found


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_PAGER": ""}
    env.pop("AWS_ENDPOINT_URL", None)
    env.pop("AWS_SESSION_TOKEN", None)
    return subprocess.run([_aws_cli(), *args], capture_output=True, text=True, timeout=120,
                          check=False, env=env, cwd=cwd)


def test_aws_cli_invoke_get_and_list(local_stack: LocalRun, tmp_path: Path) -> None:
    endpoint = ["--endpoint-url", local_stack.url]
    version = _cli("--version", cwd=tmp_path)
    binary = ["--cli-binary-format", "raw-in-base64-out"] if "aws-cli/2" in (
        version.stdout + version.stderr) else []
    done = _cli("lambda", "invoke", *endpoint, "--function-name", FUNCTION, *binary,
                "--payload", '{"action": "health"}', "--log-type", "Tail", "out.json",
                cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    meta = json.loads(done.stdout)
    assert meta["StatusCode"] == 200 and meta["ExecutedVersion"] == "$LATEST"
    assert "START RequestId" in base64.b64decode(meta["LogResult"]).decode()
    assert json.loads((tmp_path / "out.json").read_text())["status"] == "ok"
    failed = _cli("lambda", "invoke", *endpoint, "--function-name", ARN, *binary, "--payload",
                  '{"action": "nope"}', "err.json", cwd=tmp_path)
    assert failed.returncode == 0 and json.loads(failed.stdout)["FunctionError"] == "Unhandled"
    assert json.loads((tmp_path / "err.json").read_text())["errorType"] == "NotFound"
    queued = _cli("lambda", "invoke", *endpoint, "--function-name", FUNCTION, *binary,
                  "--invocation-type", "Event", "--payload", '{"action": "health"}', "ev.json",
                  cwd=tmp_path)
    assert queued.returncode == 0 and json.loads(queued.stdout)["StatusCode"] == 202
    missing = _cli("lambda", "invoke", *endpoint, "--function-name", "nope", "x.json",
                   cwd=tmp_path)
    assert missing.returncode != 0 and "ResourceNotFoundException" in missing.stderr
    got = _cli("lambda", "get-function", *endpoint, "--function-name", FUNCTION, cwd=tmp_path)
    assert json.loads(got.stdout)["Configuration"]["FunctionArn"] == ARN
    listed = _cli("lambda", "list-functions", *endpoint, cwd=tmp_path)
    assert [f["FunctionName"] for f in json.loads(listed.stdout)["Functions"]] == [FUNCTION]


def _node_sdk() -> str:
    """The dev extra's node (tests/nodejs.py), with the SDK installed by its npm."""
    node, npm = nodejs.node(), nodejs.npm_command()
    if node is None or npm is None:
        pytest.skip(f"the JavaScript SDK v3 test needs node and npm: {nodejs.MISSING}")
    if not (JS / "node_modules" / "@aws-sdk" / "client-lambda").is_dir():
        install = subprocess.run([*npm, "install", "--no-audit", "--no-fund"], cwd=JS,
                                 env=nodejs.environment(), capture_output=True, text=True,
                                 timeout=600, check=False)
        assert install.returncode == 0, install.stderr[-2000:]
    return str(node)


def test_javascript_sdk_v3(local_stack: LocalRun) -> None:
    node = _node_sdk()
    done = subprocess.run([node, "lambda_client.mjs", local_stack.url, FUNCTION], cwd=JS,
                          env=nodejs.environment(), capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout)
    assert seen["ok"]["status"] == 200 and seen["ok"]["version"] == "$LATEST"
    assert seen["ok"]["payload"]["status"] == "ok"
    assert seen["ok"]["log"].startswith("START RequestId:")
    assert seen["failed"]["functionError"] == "Unhandled"
    assert seen["failed"]["payload"]["errorType"] == "NotFound"
    assert seen["event"] == {"status": 202} and seen["dryRun"] == {"status": 204}
    assert seen["unknown"]["name"] == "ResourceNotFoundException"
    assert seen["unknown"]["status"] == 404
    assert seen["tooLarge"]["name"] == "RequestEntityTooLargeException"
    assert seen["tooLarge"]["status"] == 413
    assert seen["getFunction"] == {"name": FUNCTION, "arn": ARN, "runtime": "python3.13",
                                   "handler": "opsfn.handler.lambda_handler"}
    assert seen["list"] == [FUNCTION]


def test_action_queue_work_items_reach_their_action(local_stack: LocalRun) -> None:
    """The template's action queue (BatchSize 1, ReportBatchItemFailures): a queue-enabled
    action runs; an action not declared queue=True fails permanently and is parked."""
    before = activity(local_stack)[-1]["seq"]
    sqs = aws_client(local_stack, "sqs")
    url = local_stack.info()["resources"]["ActionQueue"]
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"action": "generate_ssl_materials"}))
    entry = wait_for(lambda: [e for e in activity(local_stack, before)
                              if e["trigger"] == "SQS ActionQueueMessages (1 message(s))"])[0]
    assert entry["kind"] == "sqs" and entry["result"] == "batch done"
    assert entry["routes"] == [{"route": "action:generate_ssl_materials", "ok": True}]
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"action": "health"}))
    refused = wait_for(lambda: [e for e in activity(local_stack, entry["seq"])
                                if e["trigger"].startswith("SQS ActionQueueMessages")])[0]
    assert refused["result"] == "batch done"  # parked in the failed-events queue, not retried
    failed_url = local_stack.info()["resources"]["FailedEventsQueue"]

    def parked() -> list[dict[str, Any]]:
        bodies = [json.loads(m["Body"]) for m in sqs.receive_message(
            QueueUrl=failed_url, MaxNumberOfMessages=10).get("Messages", [])]
        return [b for b in bodies if b.get("source") == "sqs" and b.get("error") == "not_exposed"]

    found = wait_for(parked)[0]
    assert json.loads(found["payload"]["body"]) == {"action": "health"}

