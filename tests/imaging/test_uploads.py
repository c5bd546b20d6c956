"""POST /request-upload: validation, the job item, the presigned PUT's signed headers and the
presigned POST's policy."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from opsfn.routes.imaging.uploads import sanitise_name
from opsfn.services import aws
from opsfn.testing import Client
from tests.imaging.conftest import BUCKET, TABLE, job_item, request_upload

pytestmark = pytest.mark.usefixtures("resources")


def _item_count() -> int:
    return int(aws.client("dynamodb").scan(TableName=TABLE, Select="COUNT")["Count"])


def _policy(reply: dict[str, Any]) -> dict[str, Any]:
    return json.loads(base64.b64decode(reply["uploadPost"]["fields"]["policy"]))  # type: ignore[no-any-return]


def _signed_headers(url: str) -> list[str]:
    from urllib.parse import parse_qs, urlsplit

    return parse_qs(urlsplit(url).query)["X-Amz-SignedHeaders"][0].split(";")


@pytest.mark.parametrize("shape", ["http_v1", "http_v2", "function_url", "alb"])
def test_upload_request_creates_pending_job_and_bounded_post(client: Client, shape: str,
                                                             secret: Callable[[str], str]) -> None:
    reply = client.post("/request-upload", json_body={"fileName": "Doe^John 1970.jpg",
                                                      "fileType": "image/jpeg"}, shape=shape)
    assert reply.status == 200
    body = reply.json()
    job_id = body["jobId"]
    assert uuid.UUID(job_id).version == 4
    fields = body["uploadPost"]["fields"]
    assert fields["key"] == f"uploads/{job_id}/original"
    assert "Doe" not in json.dumps(body)  # the name never reaches the key, fields or reply
    assert fields["Content-Type"] == "image/jpeg"
    assert fields["x-amz-algorithm"] == "AWS4-HMAC-SHA256"  # SigV4, never SigV2
    secret(fields["x-amz-signature"])  # the POST policy's signature: never logged
    assert "AWSAccessKeyId" not in fields
    assert body["maxBytes"] == 50 * 1024 * 1024
    # the PUT the original page uses: same key, Content-Type signed, SigV4
    put = body["uploadUrl"]
    assert f"/uploads/{job_id}/original?" in put and "X-Amz-Algorithm=AWS4-HMAC-SHA256" in put
    assert _signed_headers(put) == ["content-type", "host"]
    assert body["uploadHeaders"] == {"Content-Type": "image/jpeg"}
    secret(put.rsplit("X-Amz-Signature=", 1)[1])
    conditions = _policy(body)["conditions"]
    assert ["content-length-range", 1, 50 * 1024 * 1024] in conditions
    assert {"Content-Type": "image/jpeg"} in conditions
    assert {"key": f"uploads/{job_id}/original"} in conditions
    assert {"bucket": BUCKET} in conditions
    item = job_item(job_id)
    assert item is not None
    assert item["status"] == "pending"
    assert item["fileType"] == "image/jpeg"
    assert item["s3Key"] == f"uploads/{job_id}/original"
    assert item["fileName"] == "Doe_John 1970.jpg"
    assert item["ttl"] > 0 and item["createdAt"].endswith("Z")


def test_max_upload_size_comes_from_the_setting(client: Client, monkeypatch: pytest.MonkeyPatch
                                                ) -> None:
    monkeypatch.setenv("IMAGING_MAX_UPLOAD_BYTES", "1000")
    body = request_upload(client, "a.png", "image/png")
    assert ["content-length-range", 1, 1000] in _policy(body)["conditions"]


def test_declared_size_is_signed_into_the_put(client: Client) -> None:
    body = request_upload(client, "a.png", "image/png", fileSize=1234)
    assert _signed_headers(body["uploadUrl"]) == ["content-length", "content-type", "host"]
    assert body["uploadHeaders"] == {"Content-Type": "image/png", "Content-Length": "1234"}
    assert ["content-length-range", 1, 50 * 1024 * 1024] in _policy(body)["conditions"]


@pytest.mark.parametrize(("name", "ctype"), [("scan.dcm", ""), ("scan.DICOM", "application/octet-stream"),
                                             ("x.dcm", "application/dicom")])
def test_dicom_names_without_a_type_count_as_dicom(client: Client, name: str, ctype: str) -> None:
    body = request_upload(client, name, ctype)
    assert body["contentType"] == "application/dicom"
    assert body["uploadPost"]["fields"]["Content-Type"] == "application/dicom"
    assert body["uploadHeaders"] == {"Content-Type": "application/dicom"}


BAD_BODIES = [
    ({"fileType": "image/png"}, "body.fileName"),
    ({"fileName": "a.png"}, "body.fileType"),
    ({"fileName": "a.gif", "fileType": "image/gif"}, "body.fileType"),
    ({"fileName": "a.exe", "fileType": "application/octet-stream"}, "body.fileType"),
    ({"fileName": "../etc/passwd", "fileType": "image/png"}, "body.fileName"),
    ({"fileName": "dir/a.png", "fileType": "image/png"}, "body.fileName"),
    ({"fileName": "dir\\a.png", "fileType": "image/png"}, "body.fileName"),
    ({"fileName": "a..png", "fileType": "image/png"}, "body.fileName"),
    ({"fileName": "a\x00.png", "fileType": "image/png"}, "body.fileName"),
    ({"fileName": "a\n.png", "fileType": "image/png"}, "body.fileName"),
    ({"fileName": "\u00e9" * 128 + ".png", "fileType": "image/png"}, "body.fileName"),
    ({"fileName": "", "fileType": "image/png"}, "body.fileName"),
    ({"fileName": "   ", "fileType": "image/png"}, "body.fileName"),
    ({"fileName": 12, "fileType": "image/png"}, "body.fileName"),
    ({"fileName": "a.png", "fileType": "image/png", "fileSize": 60 * 1024 * 1024}, "body.fileSize"),
    ({"fileName": "a.png", "fileType": "image/png", "fileSize": 0}, "body.fileSize"),
]


@pytest.mark.parametrize(("body", "loc"), BAD_BODIES)
def test_bad_requests_are_400_with_field_path_and_write_nothing(client: Client, body: dict[str, Any],
                                                                 loc: str) -> None:
    reply = client.post("/request-upload", json_body=body)
    assert reply.status == 400, reply.text
    payload = reply.json()
    assert loc in [detail["loc"] for detail in payload["details"]]
    assert "Traceback" not in reply.text
    assert _item_count() == 0


@pytest.mark.parametrize("raw", ["not json", "{\"fileName\": ", base64.b64encode(b"\xff\xd8\xff").decode(),
                                 "[1, 2]", ""])
def test_non_json_bodies_are_400(client: Client, raw: str) -> None:
    reply = client.post("/request-upload", body=raw)
    assert reply.status == 400
    assert reply.json()["details"][0]["loc"].startswith("body")
    assert _item_count() == 0


def test_base64_flagged_body_that_is_not_json_is_400(client: Client) -> None:
    from opsfn.testing import http_v1_event, parse_http_reply

    event = http_v1_event("POST", "/request-upload", body=b"\x89PNG\r\n\x1a\n....", binary=True)
    reply = parse_http_reply(client.handle(event))
    assert reply.status == 400
    assert _item_count() == 0


def test_missing_settings_are_reported_by_name(client: Client, monkeypatch: pytest.MonkeyPatch
                                               ) -> None:
    monkeypatch.delenv("TABLE_NAME")
    reply = client.post("/request-upload", json_body={"fileName": "a.png", "fileType": "image/png"})
    assert reply.status == 500
    assert "TABLE_NAME" in reply.json()["message"]


def test_sanitise_name_keeps_only_a_safe_display_form() -> None:
    assert sanitise_name("Smith^Jane <CT>.dcm") == "Smith_Jane _CT_.dcm"
    assert sanitise_name("...") == "upload"
    assert sanitise_name("caf\u0065\u0301.png") == "caf\u00e9.png"
