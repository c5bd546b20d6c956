"""The SDK-free DynamoDB calls and presigned forms: signed as botocore signs, used only when the SDK
is not loaded, and every reply that is not a plain success goes to the SDK."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any
from unittest import mock
from urllib.parse import parse_qsl, urlsplit

import pytest

from opsfn.services import aws, lean

NOW = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
CREDS = lean.Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG", "FQoGZXIvYXdzE/+=")


class _Frozen(dt.datetime):
    @classmethod
    def utcnow(cls) -> Any:
        return NOW.replace(tzinfo=None)

    @classmethod
    def now(cls, tz: Any = None) -> Any:
        return NOW if tz else NOW.replace(tzinfo=None)


@pytest.fixture
def cold(monkeypatch: pytest.MonkeyPatch) -> None:
    """As in a fresh Lambda process: the SDK not imported yet."""
    monkeypatch.setattr(lean.where, "sdk_loaded", lambda: False)


@pytest.mark.parametrize("endpoint", [None, "http://127.0.0.1:5000"])
@pytest.mark.parametrize("token", [None, CREDS.token])
def test_dynamodb_signature_is_botocores(endpoint: str | None, token: str | None) -> None:
    import botocore.auth
    import botocore.credentials
    from botocore.awsrequest import AWSRequest

    where = lean.Target(lean.Credentials(CREDS.access_key, CREDS.secret_key, token), "eu-west-1",
                        endpoint)
    payload = {"TableName": "jobs", "Key": {"jobId": {"S": "ä-1"}}, "ConsistentRead": True}
    url, body, headers = lean.dynamodb_request("GetItem", payload, where, NOW)
    assert url == (f"{endpoint}/" if endpoint else "https://dynamodb.eu-west-1.amazonaws.com/")
    request = AWSRequest(method="POST", url=url, data=body, headers={
        "content-type": headers["content-type"], "x-amz-target": headers["x-amz-target"]})
    signer = botocore.auth.SigV4Auth(
        botocore.credentials.Credentials(CREDS.access_key, CREDS.secret_key, token),
        "dynamodb", "eu-west-1")
    with mock.patch.object(botocore.auth.datetime, "datetime", _Frozen):
        signer.add_auth(request)
    assert headers["authorization"] == request.headers["Authorization"]
    assert json.loads(body) == payload


@pytest.mark.parametrize("endpoint", [None, "http://127.0.0.1:5000"])
@pytest.mark.parametrize("token", [None, CREDS.token])
def test_presigned_post_is_botocores(endpoint: str | None, token: str | None) -> None:
    import boto3
    import botocore.auth
    import botocore.signers
    from botocore.config import Config

    client = boto3.session.Session(
        aws_access_key_id=CREDS.access_key, aws_secret_access_key=CREDS.secret_key,
        aws_session_token=token, region_name="eu-west-1",
    ).client("s3", endpoint_url=endpoint, config=Config(
        signature_version="v4", s3={"addressing_style": "path" if endpoint else "virtual"}))
    conditions: list[Any] = [{"Content-Type": "image/png"}, ["content-length-range", 1, 1000]]
    with mock.patch.object(botocore.auth.datetime, "datetime", _Frozen), \
            mock.patch.object(botocore.signers.datetime, "datetime", _Frozen):
        expected = client.generate_presigned_post(
            Bucket="my-bucket", Key="uploads/0b9f/original", Fields={"Content-Type": "image/png"},
            Conditions=[*conditions], ExpiresIn=600)
    ours = lean.sign_post(
        "my-bucket", "uploads/0b9f/original", fields={"Content-Type": "image/png"},
        conditions=conditions, expires_in=600,
        where=lean.Target(lean.Credentials(CREDS.access_key, CREDS.secret_key, token),
                          "eu-west-1", endpoint), now=NOW)
    assert ours["fields"] == expected["fields"]  # the policy and its signature included
    if endpoint:
        assert ours["url"] == expected["url"]
    else:  # botocore may name the bucket's regional or legacy host; both are the same bucket
        assert urlsplit(ours["url"]).netloc == "my-bucket.s3.eu-west-1.amazonaws.com"


@pytest.mark.parametrize("endpoint", [None, "http://127.0.0.1:5000"])
@pytest.mark.parametrize("token", [None, CREDS.token])
@pytest.mark.parametrize("size", [None, 1234])
def test_presigned_put_is_botocores(endpoint: str | None, token: str | None,
                                    size: int | None) -> None:
    """The same URL botocore presigns, signature included (query order aside)."""
    import boto3
    import botocore.auth
    import botocore.signers
    from botocore.config import Config

    client = boto3.session.Session(
        aws_access_key_id=CREDS.access_key, aws_secret_access_key=CREDS.secret_key,
        aws_session_token=token, region_name="eu-west-1",
    ).client("s3", endpoint_url=endpoint, config=Config(
        signature_version="v4", s3={"addressing_style": "path" if endpoint else "virtual"}))
    params: dict[str, Any] = {"Bucket": "my-bucket", "Key": "uploads/0b9f/original",
                              "ContentType": "application/dicom"}
    headers = {"Content-Type": "application/dicom"}
    if size is not None:
        params["ContentLength"] = size
        headers["Content-Length"] = str(size)
    with mock.patch.object(botocore.auth.datetime, "datetime", _Frozen), \
            mock.patch.object(botocore.signers.datetime, "datetime", _Frozen):
        expected = client.generate_presigned_url("put_object", Params=params, ExpiresIn=600,
                                                 HttpMethod="PUT")
    ours = lean.sign_url(
        "PUT", "my-bucket", "uploads/0b9f/original", headers=headers, expires_in=600,
        where=lean.Target(lean.Credentials(CREDS.access_key, CREDS.secret_key, token),
                          "eu-west-1", endpoint), now=NOW)
    mine, theirs = urlsplit(ours), urlsplit(expected)
    assert dict(parse_qsl(mine.query)) == dict(parse_qsl(theirs.query))  # signature included
    assert mine.path == theirs.path
    if endpoint:
        assert mine.netloc == theirs.netloc


def test_the_sdk_makes_the_call_whenever_it_must(cold: None, monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Any) -> None:
    base = {"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "s", "AWS_REGION": "eu-west-1",
            "AWS_CONFIG_FILE": str(tmp_path / "none")}
    assert lean.target("dynamodb", base) == lean.Target(lean.Credentials("a", "s"), "eu-west-1",
                                                        None)
    for change in ({"AWS_ACCESS_KEY_ID": ""}, {"AWS_REGION": ""}, {"HTTPS_PROXY": "http://p"},
                   {"AWS_PROFILE": "dev"}, {"AWS_USE_FIPS_ENDPOINT": "true"},
                   {"AWS_ENDPOINT_URL_DYNAMODB": "http://x"}, {"AWS_ENDPOINT_URL": "ftp://x"},
                   {"AWS_ENDPOINT_URL": "http://x/path"}, {"AWS_REGION": "cn-north-1"}):
        assert lean.target("dynamodb", {**base, **change}) is None, change
    config = tmp_path / "config"
    config.write_text("[default]\nendpoint_url = http://elsewhere\n")
    assert lean.target("dynamodb", {**base, "AWS_CONFIG_FILE": str(config)}) is None
    monkeypatch.setattr(lean.where, "sdk_loaded", lambda: True)
    assert lean.target("dynamodb", base) is None


@pytest.fixture
def on_moto(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    aws.reset()
    client = aws.client("dynamodb")
    client.create_table(TableName="lean-jobs", BillingMode="PAY_PER_REQUEST",
                        AttributeDefinitions=[{"AttributeName": "jobId", "AttributeType": "S"}],
                        KeySchema=[{"AttributeName": "jobId", "KeyType": "HASH"}])
    yield moto_server
    client.delete_table(TableName="lean-jobs")


def test_lean_calls_round_trip_through_dynamodb_without_the_sdk(
        on_moto: str, cold: None, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_sdk(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the SDK was used")

    monkeypatch.setattr(aws, "client", no_sdk)
    item = {"jobId": {"S": "j-1"}, "status": {"S": "pending"}, "n": {"N": "3"},
            "tags": {"L": [{"S": "a"}, {"NULL": True}]}, "m": {"M": {"ok": {"BOOL": True}}}}
    lean.put_item(TableName="lean-jobs", Item=item, ConditionExpression="attribute_not_exists(jobId)")
    reply = lean.get_item(TableName="lean-jobs", Key={"jobId": {"S": "j-1"}}, ConsistentRead=True)
    assert reply["Item"] == item
    assert "Item" not in lean.get_item(TableName="lean-jobs", Key={"jobId": {"S": "nope"}})


def test_a_failed_condition_comes_back_as_the_sdks_error(on_moto: str, cold: None) -> None:
    item = {"jobId": {"S": "j-2"}}
    lean.put_item(TableName="lean-jobs", Item=item)
    with pytest.raises(Exception) as raised:
        lean.put_item(TableName="lean-jobs", Item=item,
                      ConditionExpression="attribute_not_exists(jobId)")
    assert raised.value.response["Error"]["Code"] == "ConditionalCheckFailedException"  # type: ignore[attr-defined]
    assert lean.dynamodb_call("PutItem", {"TableName": "lean-jobs", "Item": item,
                                          "ConditionExpression": "attribute_not_exists(jobId)"}
                              ) is lean.USE_SDK


def test_an_unreachable_endpoint_goes_to_the_sdk(cold: None, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    assert lean.dynamodb_call("GetItem", {"TableName": "t", "Key": {}}) is lean.USE_SDK


def test_the_upload_routes_work_cold_without_the_sdk(on_moto: str, cold: None,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """POST /request-upload then GET /get-results, as a cold process makes them: no SDK client."""
    from opsfn.handler import app
    from opsfn.testing import Client

    monkeypatch.setenv("TABLE_NAME", "lean-jobs")
    monkeypatch.setenv("UPLOAD_BUCKET", "lean-uploads")
    made: list[str] = []
    original = aws.client
    monkeypatch.setattr(aws, "client", lambda service, *a: made.append(service) or original(
        service, *a))
    client = Client(app)
    reply = client.post("/request-upload", json_body={"fileName": "a.png", "fileType": "image/png"})
    assert reply.status == 200, reply.body
    upload = reply.json()
    key = f"uploads/{upload['jobId']}/original"
    assert upload["uploadUrl"].startswith(f"{on_moto}/lean-uploads/{key}?")
    assert upload["uploadPost"]["url"] == f"{on_moto}/lean-uploads"
    assert upload["uploadPost"]["fields"]["key"] == key
    results = client.get("/get-results", query={"jobId": upload["jobId"]})
    assert results.status == 200 and results.json()["status"] == "pending"
    assert made == []
