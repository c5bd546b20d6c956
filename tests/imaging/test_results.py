"""GET /get-results: 400 / 404 / every state, and a presigned URL made at read time."""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from urllib.parse import parse_qs, urlparse

import pytest

from opsfn.services import aws
from opsfn.testing import Client
from tests.imaging.conftest import BUCKET, dicom_bytes, request_upload

pytestmark = pytest.mark.usefixtures("resources")


@pytest.mark.parametrize("query", [None, {"jobId": ""}, {"jobId": "abc"},
                                   {"jobId": "../../etc"}, {"jobId": str(uuid.uuid4()) + "x"}])
def test_missing_or_malformed_job_id_is_400(client: Client, query: dict[str, str] | None) -> None:
    reply = client.get("/get-results", query=query)
    assert reply.status == 400
    assert reply.json()["details"][0]["loc"] == "query.jobId"


@pytest.mark.parametrize("shape", ["http_v1", "http_v2", "alb"])
def test_unknown_job_is_404(client: Client, shape: str) -> None:
    reply = client.get("/get-results", query={"jobId": str(uuid.uuid4())}, shape=shape)
    assert reply.status == 404
    assert reply.json()["error"] == "not_found"


def test_pending_job_has_no_image_yet(client: Client) -> None:
    job_id = request_upload(client, "a.png", "image/png")["jobId"]
    body = client.get("/get-results", query={"jobId": job_id}).json()
    assert body == {"jobId": job_id, "status": "pending", "results": None, "imageUrl": None,
                    "metadata": None, "error": None}


def test_complete_job_gets_a_short_lived_sigv4_url(client: Client,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   secret: Callable[[str], str]) -> None:
    import pydicom

    monkeypatch.setenv("IMAGING_RESULT_URL_EXPIRY_S", "120")
    # The DICOM patient name must never reach a log line or an error (suite-wide leak check).
    secret(str(pydicom.dcmread(io.BytesIO(dicom_bytes("CT_small.dcm"))).PatientName))
    job_id = request_upload(client, "a.dcm", "")["jobId"]
    aws.client("s3").put_object(Bucket=BUCKET, Key=f"uploads/{job_id}/original",
                                Body=dicom_bytes("CT_small.dcm"))
    client.s3_put(BUCKET, f"uploads/{job_id}/original")
    body = client.get("/get-results", query={"jobId": job_id.upper()}).json()
    assert body["jobId"] == job_id and body["status"] == "complete"
    url = urlparse(body["imageUrl"])
    assert url.path.endswith(f"converted/{job_id}/image.png")
    query = parse_qs(url.query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["X-Amz-Expires"] == ["120"]
    secret(query["X-Amz-Signature"][0])  # a presigned signature is a credential: never logged
    assert body["metadata"]["modality"] == "CT"
    assert body["results"]["Labels"] and body["error"] is None
    for label in body["results"]["Labels"]:
        assert isinstance(label["Name"], str) and isinstance(label["Confidence"], float)
        assert all(isinstance(parent["Name"], str) for parent in label["Parents"])


def test_failed_job_is_error_with_the_reason(client: Client) -> None:
    job_id = request_upload(client, "a.png", "image/png")["jobId"]
    aws.client("s3").put_object(Bucket=BUCKET, Key=f"uploads/{job_id}/original",
                                Body=b"%PDF-1.4 not an image" * 30)
    client.s3_put(BUCKET, f"uploads/{job_id}/original")
    body = client.get("/get-results", query={"jobId": job_id}).json()
    assert body == {"jobId": job_id, "status": "error", "results": None, "imageUrl": None,
                    "metadata": None, "error": "the file is not a JPEG, PNG or DICOM image"}


def test_jobs_stored_as_failed_read_as_error(client: Client) -> None:
    from opsfn.routes.imaging import jobs

    job_id = request_upload(client, "a.png", "image/png")["jobId"]
    assert jobs.claim(job_id, 60) == "claimed"
    assert jobs._finish(job_id, {"status": jobs.LEGACY_FAILED, "error": "old reason"}, None)
    body = client.get("/get-results", query={"jobId": job_id}).json()
    assert (body["status"], body["error"]) == ("error", "old reason")


def test_results_route_imports_no_imaging_library() -> None:
    import subprocess
    import sys

    code = ("import sys, opsfn.routes.imaging.results as r, opsfn.handler; "
            "bad = [m for m in ('numpy', 'pydicom', 'PIL') if m in sys.modules]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
