"""End to end against moto's server: a real browser-style multipart POST through the presigned
form, the S3 event (direct and inside SQS), the results API, and the image URL fetched over HTTP."""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.request
import uuid
from typing import Any

import pytest

from opsfn.handler import lambda_handler
from opsfn.services import aws
from opsfn.testing import Client
from tests.imaging.conftest import dicom_bytes, jpeg_bytes, png_bytes

pytestmark = pytest.mark.usefixtures("server_resources")


def browser_post(url: str, fields: dict[str, str], data: bytes, content_type: str) -> int:
    """What the upload page does: multipart/form-data, every field, then the file last."""
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                     f"{value}\r\n".encode())
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                 f'filename="upload"\r\nContent-Type: {content_type}\r\n\r\n'.encode())
    parts.append(data + f"\r\n--{boundary}--\r\n".encode())
    request = urllib.request.Request(url, data=b"".join(parts), method="POST", headers={
        "Content-Type": f"multipart/form-data; boundary={boundary}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as reply:
        return reply.read()  # type: ignore[no-any-return]


def _bucket() -> str:
    import os

    return os.environ["UPLOAD_BUCKET"]


CASES = [
    ("CT_small.dcm", "", "dicom", "L", (128, 128), "direct"),
    ("SC_rgb_rle.dcm", "application/dicom", "dicom", "RGB",
     (100, 100), "sqs"),
    ("photo.jpg", "image/jpeg", "jpeg", "RGB", (160, 120), "sqs"),
    ("photo.png", "image/png", "png", "RGB", (120, 100), "direct"),
]


@pytest.mark.parametrize(("name", "ctype", "kind", "mode", "size", "via"), CASES,
                         ids=["dicom-grey-direct", "dicom-rgb-sqs", "jpeg-sqs", "png-direct"])
def test_upload_process_and_read_back(name: str, ctype: str, kind: str, mode: str,
                                      size: tuple[int, int], via: str) -> None:
    from PIL import Image

    client = Client(lambda_handler)
    data = {"dicom": lambda: dicom_bytes(name), "jpeg": jpeg_bytes, "png": png_bytes}[kind]()
    reply = client.post("/request-upload", json_body={"fileName": name, "fileType": ctype,
                                                      "fileSize": len(data)})
    assert reply.status == 200, reply.text
    slot = reply.json()
    post = slot["uploadPost"]
    status = browser_post(post["url"], post["fields"], data, slot["contentType"])
    assert status in (200, 201, 204)
    key = post["fields"]["key"]
    stored = aws.client("s3").get_object(Bucket=_bucket(), Key=key)
    assert stored["Body"].read() == data
    result = client.s3_put(_bucket(), key, via=via, size=len(data))
    if via == "sqs":
        assert result == {"batchItemFailures": []}
    results = client.get("/get-results", query={"jobId": slot["jobId"]})
    assert results.status == 200
    body = results.json()
    assert body["status"] == "complete", body
    assert body["error"] is None
    assert isinstance(body["results"]["Labels"], list)
    image = fetch(body["imageUrl"])
    decoded = Image.open(io.BytesIO(image))
    decoded.load()
    expected_format = "PNG" if kind in ("dicom", "png") else "JPEG"
    assert decoded.format == expected_format
    assert decoded.size == size
    if kind == "dicom":
        assert decoded.mode == mode
        assert body["metadata"]["rows"] == size[1]
    assert name not in json.dumps(body)


def test_upload_bound_is_a_sigv4_signed_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto accepts POSTs without checking the policy; real S3 checks it. So check what S3 would
    check: the conditions, the expiry, and that the SigV4 signature covers exactly this policy
    (recomputed here from the test credentials), so a page cannot loosen it."""
    import base64
    import datetime as dt
    import hashlib
    import hmac

    monkeypatch.setenv("IMAGING_MAX_UPLOAD_BYTES", "2048")
    monkeypatch.setenv("IMAGING_UPLOAD_URL_EXPIRY_S", "120")
    client = Client(lambda_handler)
    slot = client.post("/request-upload", json_body={"fileName": "a.png",
                                                     "fileType": "image/png"}).json()
    fields = slot["uploadPost"]["fields"]
    policy: dict[str, Any] = json.loads(base64.b64decode(fields["policy"]))
    assert ["content-length-range", 1, 2048] in policy["conditions"]
    assert {"Content-Type": "image/png"} in policy["conditions"]
    assert {"key": fields["key"]} in policy["conditions"]
    expires = dt.datetime.strptime(policy["expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=dt.UTC)
    left = (expires - dt.datetime.now(dt.UTC)).total_seconds()
    assert 60 < left <= 121
    access_key, date, region, service, terminal = fields["x-amz-credential"].split("/")
    assert (access_key, region, service, terminal) == ("testing", "us-east-1", "s3", "aws4_request")

    def sign(key: bytes, message: str) -> bytes:
        return hmac.new(key, message.encode(), hashlib.sha256).digest()

    signing_key = sign(sign(sign(sign(b"AWS4testing", date), region), service), terminal)
    expected = hmac.new(signing_key, fields["policy"].encode(), hashlib.sha256).hexdigest()
    assert fields["x-amz-signature"] == expected
    assert browser_post(slot["uploadPost"]["url"], fields, png_bytes((20, 20)), "image/png") in (
        200, 201, 204)
