"""The SDK-free object GET (how a sync reads its manifest): botocore's signer as the reference,
moto's server as the far end."""

from __future__ import annotations

import datetime
import gzip
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from opsfn.services import lean
from opsfn.services.lean import USE_SDK, Credentials, Target, get_object, object_url
from opsfn.services.lean.sign import EMPTY_SHA256, signed_headers

NOW = datetime.datetime(2026, 11, 30, 23, 59, 58, tzinfo=datetime.UTC)
ROOT = Path(__file__).resolve().parents[2]


def botocore_headers(url: str, region: str, credentials: Credentials) -> dict[str, str]:
    """What botocore's S3 SigV4 signer sends for the same GET at the same instant."""
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials as BotoCredentials

    request = AWSRequest("GET", url, headers={"X-Amz-Content-SHA256": EMPTY_SHA256})
    signer = S3SigV4Auth(BotoCredentials(credentials.access_key, credentials.secret_key,
                                         credentials.token), "s3", region)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("botocore.auth.get_current_datetime", lambda: NOW.replace(tzinfo=None))
        signer.add_auth(request)
    return {name.lower(): value for name, value in request.headers.items()}


@pytest.mark.parametrize("token", [None, "session/token+with=odd chars"])
@pytest.mark.parametrize(("url", "region"), [
    ("https://bucket-1.s3.eu-west-1.amazonaws.com/.opsfn-sync/0a1b/manifest.jsonl.gz", "eu-west-1"),
    ("http://127.0.0.1:5000/bucket-1/state/runs/r%20un/000001.jsonl.gz", "us-east-1"),
    ("https://bucket-1.s3.ap-south-1.amazonaws.com/a/%C3%A9t%C3%A9/~x/manifest", "ap-south-1"),
])
def test_signature_matches_botocore(url: str, region: str, token: str | None) -> None:
    credentials = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)
    ours = _signed(url, region, credentials)
    theirs = botocore_headers(url, region, credentials)
    assert ours["authorization"] == theirs["authorization"]
    assert ours["x-amz-date"] == theirs["x-amz-date"]
    assert ours.get("x-amz-security-token") == theirs.get("x-amz-security-token")


def _signed(url: str, region: str, credentials: Credentials) -> dict[str, str]:
    return signed_headers("GET", url, {"x-amz-content-sha256": EMPTY_SHA256}, EMPTY_SHA256,
                          credentials=credentials, region=region, service="s3", now=NOW)


def test_a_different_secret_gives_a_different_signature() -> None:
    url = "https://bucket-1.s3.us-east-1.amazonaws.com/k"
    one = _signed(url, "us-east-1", Credentials("AKID", "secret-one"))
    two = _signed(url, "us-east-1", Credentials("AKID", "secret-two"))
    assert one["authorization"] != two["authorization"]


def _url(bucket: str, key: str, region: str, endpoint: str | None) -> str | None:
    return object_url(bucket, key, Target(Credentials("a", "s"), region, endpoint))


def test_urls_follow_the_sdk_or_step_aside() -> None:
    assert _url("my-bucket", "a b/c", "us-west-2", None) == \
        "https://my-bucket.s3.us-west-2.amazonaws.com/a%20b/c"
    assert _url("my-bucket", "k", "us-east-1", "http://127.0.0.1:5000") == \
        "http://127.0.0.1:5000/my-bucket/k"
    assert _url("my.dotted.bucket", "k", "us-east-1", None) is None
    assert _url("arn:aws:s3:us-east-1:1:accesspoint/x", "k", "us-east-1", None) is None
    assert _url("my-bucket", "k", "us-east-1", "http://host:1/prefix") is None
    assert _url("my-bucket", "k", "us-east-1", "ftp://host") is None
    for region in ("cn-north-1", "us-gov-west-1"):  # other partitions: the SDK's endpoints
        assert lean.target("s3", {**BASE_ENV, "AWS_REGION": region}, cold_only=False) is None


BASE_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": "us-east-1", "AWS_CONFIG_FILE": "/nonexistent/config"}


@pytest.mark.parametrize("change", [
    {"AWS_ACCESS_KEY_ID": ""},
    {"AWS_REGION": "", "AWS_DEFAULT_REGION": ""},
    {"HTTPS_PROXY": "http://proxy:3128"},
    {"AWS_PROFILE": "work"},
    {"AWS_USE_FIPS_ENDPOINT": "true"},
])
def test_unusual_settings_go_to_the_sdk(change: dict[str, str]) -> None:
    env = {**BASE_ENV, "AWS_ENDPOINT_URL": "http://127.0.0.1:9", **change}
    assert get_object("my-bucket", "k", env) is USE_SDK


def test_a_config_file_naming_an_endpoint_goes_to_the_sdk(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text("[default]\nservices = local\n[services local]\ns3 =\n  endpoint_url = x\n")
    env = {**BASE_ENV, "AWS_CONFIG_FILE": str(config), "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}
    assert get_object("my-bucket", "k", env) is USE_SDK


@pytest.fixture
def server_bucket(moto_server: str) -> Iterator[tuple[str, dict[str, str]]]:
    import boto3

    s3 = boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1")
    s3.create_bucket(Bucket="lean-bucket")
    s3.put_object(Bucket="lean-bucket", Key="state/man ifest.gz", Body=gzip.compress(b"rows\n"))
    yield "lean-bucket", {**BASE_ENV, "AWS_ENDPOINT_URL": moto_server}
    for item in s3.list_objects_v2(Bucket="lean-bucket").get("Contents", []):
        s3.delete_object(Bucket="lean-bucket", Key=item["Key"])
    s3.delete_bucket(Bucket="lean-bucket")


def test_reads_an_object_from_the_server(server_bucket: tuple[str, dict[str, str]]) -> None:
    bucket, env = server_bucket
    body = get_object(bucket, "state/man ifest.gz", env)
    assert not isinstance(body, lean.UseSdk) and body is not None
    assert gzip.decompress(body.read()) == b"rows\n"


def test_a_missing_key_is_none_and_a_missing_bucket_is_for_the_sdk(
        server_bucket: tuple[str, dict[str, str]]) -> None:
    bucket, env = server_bucket
    assert get_object(bucket, "state/none", env) is None
    assert get_object("no-such-bucket-here", "state/none", env) is USE_SDK


def test_an_unreachable_endpoint_is_for_the_sdk() -> None:
    env = {**BASE_ENV, "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}
    assert get_object("my-bucket", "k", env, timeout_s=2.0) is USE_SDK


CLI = """
import json, sys
from opsfn.tooling.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "sdk_loaded": "botocore" in sys.modules}))
"""


def test_a_no_change_sync_from_a_fresh_process_never_loads_the_sdk(
        server_bucket: tuple[str, dict[str, str]], tmp_path: Path) -> None:
    bucket, env = server_bucket
    tree = tmp_path / "tree"
    (tree / "a").mkdir(parents=True)
    for name in ("a/one.txt", "two.txt"):
        (tree / name).write_text(name)
    argv = [sys.executable, "-c", CLI, "sync", str(tree), f"s3://{bucket}/data", "--json"]
    child_env = {**os.environ, **env}

    def run() -> tuple[dict[str, object], dict[str, object]]:
        done = subprocess.run(argv, env=child_env, capture_output=True, text=True, timeout=120,
                              check=False, cwd=ROOT)
        lines = done.stdout.strip().splitlines()
        return json.loads(lines[0]), json.loads(lines[1])

    summary, first = run()
    assert first == {"code": 0, "sdk_loaded": True} and summary["uploaded"] == 2
    summary, second = run()
    assert second == {"code": 0, "sdk_loaded": False}
    assert summary["skipped"] == 2 and summary["uploaded"] == 0 and summary["mode"] == "manifest"
    (tree / "two.txt").write_text("changed, and longer")
    summary, third = run()
    assert third == {"code": 0, "sdk_loaded": True} and summary["uploaded"] == 1


def test_the_endpoint_is_the_one_the_sdk_is_given() -> None:
    """The command hands the SDK AWS_ENDPOINT_URL, which wins over the S3-only variable."""
    both = {**BASE_ENV, "AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_ENDPOINT_URL_S3": "http://x:1"}
    assert _url("my-bucket", "k", "us-east-1", both["AWS_ENDPOINT_URL"]) == \
        "http://127.0.0.1:9/my-bucket/k"
    only_s3 = {**BASE_ENV, "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9"}
    assert get_object("my-bucket", "k", only_s3) is USE_SDK


def test_fast_puts_to_an_https_bucket_never_go_over_plain_http() -> None:
    """Whatever a racing thread sees first, an https base gets an HTTPS connection."""
    import http.client
    from unittest import mock

    from opsfn.routes.exports.sync.fastput import FastPut

    client = mock.Mock()
    client.meta.region_name = "eu-west-1"
    fast = FastPut(client, credentials=object(), bucket="my-bucket")
    fast.base = "https://my-bucket.s3.eu-west-1.amazonaws.com/"  # TLS context not built yet
    assert isinstance(fast._connection(), http.client.HTTPSConnection)


def test_manifest_reads_that_break_off_or_are_not_gzip_are_typed_errors() -> None:
    import io

    from opsfn.errors import InvalidContent, UpstreamError
    from opsfn.routes.exports.sync.remote import read_manifest

    class Breaking(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, buffer: object) -> int:
            raise TimeoutError("read timed out")

    with pytest.raises(UpstreamError):
        list(read_manifest(io.BufferedReader(Breaking()), None))
    with pytest.raises(InvalidContent):
        list(read_manifest(io.BytesIO(b"not gzip at all"), None))
    with pytest.raises(InvalidContent):
        list(read_manifest(io.BytesIO(gzip.compress(b"\xff\xfe\n")), None))
