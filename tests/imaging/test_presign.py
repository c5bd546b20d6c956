"""The hand-rolled SigV4 presigner agrees with botocore's, signature for signature."""

from __future__ import annotations

import datetime as dt
from typing import Any
from unittest import mock
from urllib.parse import parse_qsl, urlsplit

import pytest

from opsfn.services import lean

NOW = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


class _FrozenDatetime(dt.datetime):
    @classmethod
    def utcnow(cls) -> Any:
        return NOW.replace(tzinfo=None)

    @classmethod
    def now(cls, tz: Any = None) -> Any:
        return NOW if tz else NOW.replace(tzinfo=None)


def _botocore_url(endpoint: str | None, style: str, token: str | None, key: str) -> str:
    import boto3
    import botocore.auth
    from botocore.config import Config

    client = boto3.session.Session(
        aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="wJalrXUtnFEMI/K7MDENG",
        aws_session_token=token, region_name="eu-west-1",
    ).client("s3", endpoint_url=endpoint,
             config=Config(signature_version="v4", s3={"addressing_style": style}))
    with mock.patch.object(botocore.auth.datetime, "datetime", _FrozenDatetime):
        return client.generate_presigned_url(  # type: ignore[no-any-return]
            "get_object", Params={"Bucket": "my-bucket", "Key": key}, ExpiresIn=300)


@pytest.mark.parametrize("endpoint", [None, "http://127.0.0.1:5000"])
@pytest.mark.parametrize("token", [None, "FQoGZXIvYXdzE/+="])
@pytest.mark.parametrize("key", ["converted/0b9f/image.png", "odd key/ä+b~c.png"])
def test_matches_botocore(endpoint: str | None, token: str | None, key: str) -> None:
    expected = urlsplit(_botocore_url(endpoint, "path" if endpoint else "virtual", token, key))
    ours = urlsplit(lean.sign_url("GET", "my-bucket", key, headers={}, expires_in=300, where=lean.Target(
        lean.Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG", token), "eu-west-1", endpoint),
        now=NOW))
    assert (ours.scheme, ours.netloc, ours.path) == (expected.scheme, expected.netloc,
                                                     expected.path)
    assert dict(parse_qsl(ours.query)) == dict(parse_qsl(expected.query))  # incl. the signature


def test_credentials_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "A")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "S")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "T")
    where = lean.target("s3", cold_only=False)
    assert where is not None and where.credentials == lean.Credentials("A", "S", "T")


def test_what_it_cannot_sign_the_sdk_signs(monkeypatch: pytest.MonkeyPatch) -> None:
    """A dotted bucket (path-style on AWS) or a FIPS endpoint: botocore's URL, same lifetime."""
    url = urlsplit(lean.presigned_get("my.dotted.bucket", "k.png", expires_in=300))
    assert dict(parse_qsl(url.query))["X-Amz-Expires"] == "300"
    monkeypatch.setenv("AWS_USE_FIPS_ENDPOINT", "true")
    from opsfn.services import aws

    aws.reset()
    assert "s3-fips" in lean.presigned_get("my-bucket", "k.png", expires_in=300)
