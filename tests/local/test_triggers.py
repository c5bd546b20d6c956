"""`opsfn local --app` on a template of its own: every non-HTTP trigger delivered as AWS would,
callers presented from the Authorization header, and a front end of the user's (--static)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import requests

from tests.local.conftest import LocalRun, activity, aws_client, wait_for

FUNCTION = "triggers-fn"


def _last_seq(run: LocalRun) -> int:
    entries = activity(run)
    return entries[-1]["seq"] if entries else 0


def _entries(run: LocalRun, after: int, trigger: str) -> list[dict[str, Any]]:
    return [e for e in activity(run, after) if e["trigger"].startswith(trigger)]


def _queue_url(run: LocalRun, logical: str) -> str:
    sqs = aws_client(run, "sqs")
    name = run.info()["resources"][logical].rsplit("/", 1)[-1]
    return str(sqs.get_queue_url(QueueName=name)["QueueUrl"])


def _drain(run: LocalRun, logical: str) -> list[dict[str, Any]]:
    sqs = aws_client(run, "sqs")
    url = _queue_url(run, logical)
    found = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return found
        for message in messages:
            found.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def test_custom_resource_ran_on_start(app_stack: LocalRun) -> None:
    info = app_stack.info()
    assert info["customResources"] == {"Marker": "SUCCESS"}
    assert info["function"] == {"name": FUNCTION,
                                "arn": f"arn:aws:lambda:us-east-1:123456789012:function:{FUNCTION}"}
    created = [e for e in activity(app_stack) if e["trigger"] == "Custom::Marker Marker Create"]
    assert created and created[0]["routes"] == [{"route": "Custom::Marker", "ok": True}]


@pytest.mark.parametrize(("key", "kind", "trigger", "route"), [
    ("direct/scan.bin", "s3", "S3 notification (DirectDrop)", "s3:${DROP_BUCKET}/direct/*"),
    ("bridged/scan.bin", "s3_eventbridge", "S3 via EventBridge rule BridgedDrop",
     "s3:${DROP_BUCKET}/bridged/*"),
])
def test_object_put_reaches_its_route_in_the_templates_shape(
        app_stack: LocalRun, key: str, kind: str, trigger: str, route: str) -> None:
    before = _last_seq(app_stack)
    s3 = aws_client(app_stack, "s3")
    s3.put_object(Bucket=app_stack.info()["resources"]["DropBucket"], Key=key, Body=b"x" * 10)
    entry = wait_for(lambda: _entries(app_stack, before, trigger))[0]
    assert entry["kind"] == kind
    assert entry["routes"] == [{"route": route, "ok": True}]
    assert entry["ok"] is True
    # Nothing else ran for that object: the other prefix's route was not reached.
    assert [e["kind"] for e in activity(app_stack, before) if e["kind"] in ("s3", "s3_eventbridge")
            ] == [kind]


def test_sns_publish_reaches_the_subscribed_route(app_stack: LocalRun) -> None:
    before = _last_seq(app_stack)
    sns = aws_client(app_stack, "sns")
    sns.publish(TopicArn=app_stack.info()["resources"]["NewsTopic"],
                Message=json.dumps({"headline": "opening hours"}), Subject="news")
    entry = wait_for(lambda: _entries(app_stack, before, "SNS News"))[0]
    assert entry["kind"] == "sns" and entry["ok"] is True
    assert entry["routes"] == [{"route": "sns:${NEWS_TOPIC}", "ok": True}]


def test_failing_sns_message_is_retried_then_sent_to_the_destination(app_stack: LocalRun) -> None:
    _drain(app_stack, "FailedEvents")
    before = _last_seq(app_stack)
    aws_client(app_stack, "sns").publish(TopicArn=app_stack.info()["resources"]["NewsTopic"],
                                         Message=json.dumps({"fail": True}))
    records = wait_for(lambda: _drain(app_stack, "FailedEvents"))
    assert len(records) == 1
    record = records[0]
    assert record["requestContext"]["approximateInvokeCount"] == 2  # MaximumRetryAttempts: 1
    assert record["requestPayload"]["Records"][0]["EventSource"] == "aws:sns"
    assert record["responsePayload"]["errorType"] == "RecordsFailed"
    runs = _entries(app_stack, before, "SNS News")
    assert [e["ok"] for e in runs] == [False, False]


def test_sqs_batch_with_a_partial_failure_and_the_dead_letter_queue(app_stack: LocalRun) -> None:
    before = _last_seq(app_stack)
    sqs = aws_client(app_stack, "sqs")
    url = _queue_url(app_stack, "WorkQueue")
    sqs.send_message_batch(QueueUrl=url, Entries=[
        {"Id": "a", "MessageBody": json.dumps({"name": "a"})},
        {"Id": "b", "MessageBody": json.dumps({"name": "b", "fail": True})},
        {"Id": "c", "MessageBody": json.dumps({"name": "c"})},
    ])
    # One invocation for the batch (BatchSize 5 within a 1 s window); its reply names b only.
    first = wait_for(lambda: _entries(app_stack, before, "SQS Work"))[0]
    assert first["trigger"] == "SQS Work (3 message(s))", activity(app_stack, before)
    assert first["result"] == "1 message(s) failed"
    dead = wait_for(lambda: _drain(app_stack, "WorkDeadLetters"), timeout=30)
    assert dead == [{"name": "b", "fail": True}]
    runs = _entries(app_stack, before, "SQS Work")
    # b was received maxReceiveCount (2) times, a and c once: then b went to the DLQ.
    assert [(e["trigger"], e["result"]) for e in runs] == [
        ("SQS Work (3 message(s))", "1 message(s) failed"),
        ("SQS Work (1 message(s))", "1 message(s) failed")], runs


def test_async_invoke_of_a_failing_action_reaches_the_destination(app_stack: LocalRun) -> None:
    _drain(app_stack, "FailedEvents")
    lam = aws_client(app_stack, "lambda", endpoint=app_stack.url)
    assert lam.invoke(FunctionName=FUNCTION, InvocationType="Event",
                      Payload=b'{"action": "flaky"}')["StatusCode"] == 202
    records = wait_for(lambda: _drain(app_stack, "FailedEvents"))
    assert records[0]["requestPayload"] == {"action": "flaky"}
    assert records[0]["responsePayload"]["errorType"] == "Conflict"
    assert records[0]["requestContext"]["functionArn"].endswith(f":function:{FUNCTION}:$LATEST")
    config = lam.get_function(FunctionName=FUNCTION)["Configuration"]
    assert config["MemorySize"] == 512 and config["Timeout"] == 30
    assert config["Architectures"] == ["x86_64"]
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function(FunctionName="TriggersFunction")  # FunctionName set: that is its name


def _jwt(claims: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none'})}.{part(claims)}.signature"


def _signed(url: str) -> dict[str, str]:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method="GET", url=url)
    SigV4Auth(Credentials("operator-key", "secret"), "execute-api", "us-east-1").add_auth(request)
    return dict(request.headers.items())


def test_callers_from_the_authorization_header(app_stack: LocalRun) -> None:
    url = app_stack.url
    assert requests.get(f"{url}/open", timeout=10).json() == {"caller": None}
    assert requests.get(f"{url}/whoami", timeout=10).status_code == 401
    token = _jwt({"sub": "clinician-7", "scope": "referrals:write", "aud": ["a", "b"]})
    who = requests.get(f"{url}/whoami", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert who.status_code == 200 and who.json() == {"caller": "clinician-7"}
    opaque = requests.get(f"{url}/whoami", headers={"Authorization": "Bearer opaque"}, timeout=10)
    assert opaque.json() == {"caller": "local-user"}
    assert requests.get(f"{url}/whoami-iam", headers={"Authorization": f"Bearer {token}"},
                        timeout=10).status_code == 401
    iam = requests.get(f"{url}/whoami-iam", headers=_signed(f"{url}/whoami-iam"), timeout=10)
    assert iam.status_code == 200
    assert iam.json() == {"caller": "arn:aws:iam::123456789012:user/operator-key"}


def test_static_front_end_is_served_same_origin(app_stack: LocalRun) -> None:
    url = app_stack.url
    page = requests.get(f"{url}/site/", timeout=10)
    assert page.status_code == 200 and "own front end" in page.text
    assert page.headers["content-type"].startswith("text/html")
    script = requests.get(f"{url}/site/nested/app.js", timeout=10)
    assert script.status_code == 200 and "hello" in script.text
    assert "javascript" in script.headers["content-type"]
    for escape in ("/site/../secret.txt", "/site/%2e%2e/secret.txt", "/site/..%2fsecret.txt"):
        reply = requests.get(url + escape, timeout=10)
        assert "outside the mount" not in reply.text, escape
    assert requests.get(f"{url}/", timeout=10).text.count("Image analysis") == 1  # the upload page
