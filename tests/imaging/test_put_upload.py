"""The presigned PUT the original page uses: what S3 checks, checked here, and what S3 cannot check
(the size of a PUT without fileSize), checked by processing.

moto stores a PUT without looking at its signature. Real S3 recomputes the SigV4 signature from
the request it receives, taking the values of the headers the URL names in X-Amz-SignedHeaders
from that request, and refuses it (403 SignatureDoesNotMatch) when they differ from the signed
values. ``s3_accepts`` does the same computation with botocore's own signer.
"""

from __future__ import annotations

import datetime as dt
import os
import urllib.error
import urllib.request
from typing import Any
from unittest import mock
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest

from opsfn.handler import lambda_handler
from opsfn.services import aws
from opsfn.testing import Client
from tests.imaging.conftest import dicom_bytes, jpeg_bytes, png_bytes

pytestmark = pytest.mark.usefixtures("server_resources")

SIGNATURE_PARAMS = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
                    "X-Amz-SignedHeaders", "X-Amz-Signature", "X-Amz-Security-Token")


def s3_accepts(url: str, method: str, headers: dict[str, str]) -> bool:
    """Whether S3 would accept ``method url`` sent with ``headers``: the signature recomputed
    with botocore's SigV4 query signer, at the URL's own time, over the request's values of the
    headers the URL signed."""
    import botocore.auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    access_key, day, region, service, _ = query["X-Amz-Credential"].split("/")
    signed = query["X-Amz-SignedHeaders"].split(";")
    sent = {name.lower(): value for name, value in headers.items()}
    if any(name != "host" and name not in sent for name in signed):
        return False  # a signed header missing from the request
    moment = dt.datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    assert moment.strftime("%Y%m%d") == day
    if dt.datetime.now(dt.UTC) > moment + dt.timedelta(seconds=int(query["X-Amz-Expires"])):
        return False  # expired
    rest = [(k, v) for k, v in parse_qsl(parts.query) if k not in SIGNATURE_PARAMS]
    request = AWSRequest(method=method, url=urlunsplit(parts._replace(query=urlencode(rest))),
                         headers={name: sent[name] for name in signed if name != "host"})

    class Frozen(dt.datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Any:
            return moment if tz else moment.replace(tzinfo=None)

        @classmethod
        def utcnow(cls) -> Any:
            return moment.replace(tzinfo=None)

    credentials = Credentials(access_key, os.environ["AWS_SECRET_ACCESS_KEY"],
                              query.get("X-Amz-Security-Token"))
    signer = botocore.auth.S3SigV4QueryAuth(credentials, service, region,
                                            expires=int(query["X-Amz-Expires"]))
    with mock.patch.object(botocore.auth.datetime, "datetime", Frozen):
        signer.add_auth(request)
    ours = dict(parse_qsl(urlsplit(request.url).query))
    return ours["X-Amz-SignedHeaders"] == query["X-Amz-SignedHeaders"] and \
        ours["X-Amz-Signature"] == query["X-Amz-Signature"]


def put(url: str, data: bytes, content_type: str) -> int:
    """What the original page does: PUT the file with a Content-Type, nothing else."""
    request = urllib.request.Request(url, data=data, method="PUT",
                                     headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def _slot(client: Client, name: str, file_type: str, **extra: Any) -> dict[str, Any]:
    reply = client.post("/request-upload", json_body={"fileName": name, "fileType": file_type,
                                                      **extra})
    assert reply.status == 200, reply.text
    return reply.json()  # type: ignore[no-any-return]


def test_signature_covers_the_content_type() -> None:
    slot = _slot(Client(lambda_handler), "a.png", "image/png")
    url = slot["uploadUrl"]
    assert dict(parse_qsl(urlsplit(url).query))["X-Amz-SignedHeaders"] == "content-type;host"
    assert s3_accepts(url, "PUT", {"Content-Type": "image/png", "Content-Length": "10"})
    assert not s3_accepts(url, "PUT", {"Content-Type": "text/html"})
    assert not s3_accepts(url, "PUT", {"Content-Type": "image/jpeg"})
    assert not s3_accepts(url, "PUT", {})  # no Content-Type at all
    assert not s3_accepts(url, "GET", {"Content-Type": "image/png"})  # a PUT slot, not a read
    tampered = url.replace("original", "other")
    assert not s3_accepts(tampered, "PUT", {"Content-Type": "image/png"})


def test_declared_size_is_signed_too() -> None:
    slot = _slot(Client(lambda_handler), "a.png", "image/png", fileSize=2048)
    url = slot["uploadUrl"]
    assert dict(parse_qsl(urlsplit(url).query))["X-Amz-SignedHeaders"] == \
        "content-length;content-type;host"
    assert s3_accepts(url, "PUT", {"Content-Type": "image/png", "Content-Length": "2048"})
    assert not s3_accepts(url, "PUT", {"Content-Type": "image/png", "Content-Length": "2049"})
    assert not s3_accepts(url, "PUT", {"Content-Type": "image/png",
                                       "Content-Length": str(50 * 1024 * 1024)})


def test_put_the_way_the_original_page_does_and_read_back() -> None:
    client = Client(lambda_handler)
    for name, file_type, data, kind in [
            ("scan.dcm", "application/dicom", dicom_bytes("CT_small.dcm"), "dicom"),
            ("photo.jpg", "image/jpeg", jpeg_bytes(), "jpeg"),
            ("photo.png", "image/png", png_bytes(), "png")]:
        slot = _slot(client, name, file_type)  # no fileSize, as the original page sends
        assert s3_accepts(slot["uploadUrl"], "PUT", {"Content-Type": file_type})
        assert put(slot["uploadUrl"], data, file_type) == 200
        key = f"uploads/{slot['jobId']}/original"
        stored = aws.client("s3").get_object(Bucket=os.environ["UPLOAD_BUCKET"], Key=key)
        assert stored["Body"].read() == data and stored["ContentType"] == file_type
        client.s3_put(os.environ["UPLOAD_BUCKET"], key, size=len(data))
        body = client.get("/get-results", query={"jobId": slot["jobId"]}).json()
        assert body["status"] == "complete", body
        assert body["results"]["Labels"] and body["metadata"].get("format", "dicom") == kind


def test_oversized_put_fails_its_job_and_the_object_is_deleted(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMAGING_MAX_UPLOAD_BYTES", "5000")
    client = Client(lambda_handler)
    slot = _slot(client, "big.png", "image/png")
    data = png_bytes((400, 400)) + b"\0" * 6000
    assert len(data) > 5000
    assert put(slot["uploadUrl"], data, "image/png") == 200  # S3 cannot bound a PUT
    bucket, key = os.environ["UPLOAD_BUCKET"], f"uploads/{slot['jobId']}/original"
    assert client.s3_put(bucket, key, via="sqs", size=len(data)) == {"batchItemFailures": []}
    body = client.get("/get-results", query={"jobId": slot["jobId"]}).json()
    assert body["status"] == "error"
    assert body["error"] == "the file is larger than the upload limit of 5000 bytes"
    listing = aws.client("s3").list_objects_v2(Bucket=bucket, Prefix="uploads/")
    assert listing.get("KeyCount", 0) == 0
