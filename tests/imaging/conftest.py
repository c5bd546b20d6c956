"""Fixtures of the imaging tests: the bucket and jobs table (in-process moto or moto's server),
a client over the imaging router, and real sample images."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from opsfn.core.app import App
from opsfn.routes.imaging import router
from opsfn.services import aws
from opsfn.testing import Client

BUCKET = "opsfn-uploads"
TABLE = "ImageAnalysisResults"


def dicom_dir() -> Path:
    """pydicom's bundled test files."""
    import pydicom

    return Path(pydicom.__file__).parent / "data" / "test_files"


def make_resources() -> None:
    """The upload bucket and the jobs table, as the template creates them."""
    aws.client("s3").create_bucket(Bucket=BUCKET)
    aws.client("dynamodb").create_table(
        TableName=TABLE, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "jobId", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "jobId", "KeyType": "HASH"}],
    )


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pipeline's two required settings."""
    monkeypatch.setenv("UPLOAD_BUCKET", BUCKET)
    monkeypatch.setenv("TABLE_NAME", TABLE)


@pytest.fixture
def resources(moto_aws: None, settings_env: None) -> None:
    """In-process moto with the bucket and table."""
    make_resources()


@pytest.fixture
def server_resources(moto_server: str, settings_env: None, monkeypatch: pytest.MonkeyPatch
                     ) -> Iterator[str]:
    """Every client talks to the moto server; fresh bucket and table names per test."""
    import uuid

    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    suffix = uuid.uuid4().hex[:8]
    monkeypatch.setenv("UPLOAD_BUCKET", f"{BUCKET}-{suffix}")
    monkeypatch.setenv("TABLE_NAME", f"{TABLE}-{suffix}")
    aws.reset()
    aws.client("s3").create_bucket(Bucket=f"{BUCKET}-{suffix}")
    aws.client("dynamodb").create_table(
        TableName=f"{TABLE}-{suffix}", BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "jobId", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "jobId", "KeyType": "HASH"}],
    )
    yield moto_server
    aws.reset()


@pytest.fixture
def client() -> Client:
    """A client over an app holding only the imaging routes."""
    return Client(App([router]))


def jpeg_bytes(size: tuple[int, int] = (160, 120)) -> bytes:
    """A real JPEG with some structure."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", size, (30, 90, 160))
    ImageDraw.Draw(image).ellipse((10, 10, size[0] - 10, size[1] - 10), fill=(240, 200, 40))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def png_bytes(size: tuple[int, int] = (120, 100)) -> bytes:
    """A real PNG."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", size, (10, 120, 40))
    inset = min(size) // 5
    ImageDraw.Draw(image).rectangle((inset, inset, size[0] - inset, size[1] - inset),
                                    fill=(250, 250, 250))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def dicom_bytes(name: str = "CT_small.dcm") -> bytes:
    """One of pydicom's bundled test files."""
    return (dicom_dir() / name).read_bytes()


def request_upload(client: Client, file_name: str, file_type: str, **extra: Any) -> dict[str, Any]:
    """POST /request-upload and return the JSON reply (asserting 200)."""
    reply = client.post("/request-upload", json_body={"fileName": file_name,
                                                      "fileType": file_type, **extra})
    assert reply.status == 200, reply.text
    return reply.json()  # type: ignore[no-any-return]


def job_item(job_id: str) -> dict[str, Any] | None:
    """The raw job as stored."""
    from opsfn.routes.imaging import jobs

    return jobs.get(job_id)
