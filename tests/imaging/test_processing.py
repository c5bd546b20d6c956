"""The S3 route against in-process moto: states, idempotency and hostile uploads."""

from __future__ import annotations

import io
import uuid
from typing import Any

import pytest

from opsfn.errors import RecordsFailed
from opsfn.routes.imaging import processing
from opsfn.services import aws
from opsfn.testing import Client
from tests.imaging.conftest import (
    BUCKET,
    dicom_bytes,
    job_item,
    jpeg_bytes,
    png_bytes,
    request_upload,
)

pytestmark = pytest.mark.usefixtures("resources")


def _upload(client: Client, data: bytes, name: str = "scan.dcm", ctype: str = "") -> str:
    """Request a slot and put ``data`` where the browser would; returns the jobId."""
    reply = request_upload(client, name, ctype)
    aws.client("s3").put_object(Bucket=BUCKET, Key=f"uploads/{reply['jobId']}/original", Body=data)
    return str(reply["jobId"])


def _keys() -> list[str]:
    listing = aws.client("s3").list_objects_v2(Bucket=BUCKET)
    return sorted(obj["Key"] for obj in listing.get("Contents", []))


def test_dicom_upload_is_rendered_labelled_and_completed(client: Client) -> None:
    job_id = _upload(client, dicom_bytes("CT_small.dcm"))
    assert client.s3_put(BUCKET, f"uploads/{job_id}/original") == {"processed": 1, "records": 1}
    item = job_item(job_id)
    assert item is not None and item["status"] == "complete", item
    assert item["imageKey"] == f"converted/{job_id}/image.png"
    assert item["kind"] == "dicom"
    meta = item["metadata"]
    assert meta["modality"] == "CT" and meta["rows"] == 128 and meta["bitsStored"] == 16
    assert meta["transferSyntax"] == "Explicit VR Little Endian"
    assert meta["window"] == {"mode": "minmax"}
    for identifying in ("PatientName", "PatientID", "StudyDate", "CompsressionForce"):
        assert identifying not in str(item)
    labels = item["results"]["Labels"]  # DetectLabels' own shape, what the original page reads
    assert labels and all(set(label) == {"Name", "Confidence", "Parents"} for label in labels)
    assert all(isinstance(label["Confidence"], float) for label in labels)
    assert all(set(parent) == {"Name"} for label in labels for parent in label["Parents"])
    assert "message" not in item["results"]
    png = aws.client("s3").get_object(Bucket=BUCKET, Key=f"converted/{job_id}/image.png")
    assert png["ContentType"] == "image/png"
    assert png["Body"].read().startswith(b"\x89PNG")


@pytest.mark.parametrize(("data", "name", "ctype", "kind"), [
    (jpeg_bytes(), "photo.jpg", "image/jpeg", "jpeg"),
    (png_bytes(), "photo.png", "image/png", "png"),
])
def test_browser_images_are_labelled_in_place(client: Client, data: bytes, name: str, ctype: str,
                                              kind: str) -> None:
    job_id = _upload(client, data, name, ctype)
    client.s3_put(BUCKET, f"uploads/{job_id}/original", via="sqs")
    item = job_item(job_id)
    assert item is not None and item["status"] == "complete"
    assert item["imageKey"] == f"uploads/{job_id}/original"
    assert item["metadata"]["format"] == kind
    assert item["results"]["Labels"]
    assert _keys() == [f"uploads/{job_id}/original"]  # nothing converted for JPEG/PNG


def test_duplicate_events_change_nothing_and_call_nothing(client: Client,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    job_id = _upload(client, dicom_bytes("MR_small.dcm"))
    key = f"uploads/{job_id}/original"
    client.s3_put(BUCKET, key)
    first = job_item(job_id)
    calls: list[Any] = []
    monkeypatch.setattr(processing, "process", lambda *a: calls.append(a))
    for via in ("direct", "sqs", "eventbridge", "sns"):
        result = client.s3_put(BUCKET, key, via=via)
        if via == "sqs":
            assert result == {"batchItemFailures": []}
    assert calls == []
    assert job_item(job_id) == first


def test_event_while_another_worker_holds_the_job_is_ignored(client: Client,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from opsfn.routes.imaging import jobs

    job_id = _upload(client, png_bytes())
    assert jobs.claim(job_id, lease_s=600) == "claimed"
    calls: list[Any] = []
    monkeypatch.setattr(processing, "process", lambda *a: calls.append(a))
    client.s3_put(BUCKET, f"uploads/{job_id}/original")
    assert calls == []
    assert job_item(job_id)["status"] == "processing"  # type: ignore[index]


def test_expired_lease_lets_a_retry_take_over(client: Client) -> None:
    from opsfn.routes.imaging import jobs

    job_id = _upload(client, png_bytes())
    assert jobs.claim(job_id, lease_s=-10) == "claimed"  # a worker that died long ago
    client.s3_put(BUCKET, f"uploads/{job_id}/original")
    item = job_item(job_id)
    assert item is not None and item["status"] == "complete" and item["attempts"] == 2


def test_unknown_job_fails_the_record_permanently(client: Client) -> None:
    key = f"uploads/{uuid.uuid4()}/original"
    aws.client("s3").put_object(Bucket=BUCKET, Key=key, Body=png_bytes())
    with pytest.raises(RecordsFailed) as caught:
        client.s3_put(BUCKET, key)
    assert caught.value.permanent
    reply = client.s3_put(BUCKET, key, via="sqs")
    assert len(reply["batchItemFailures"]) == 1


@pytest.mark.parametrize("key", ["uploads/not-a-uuid/original", "uploads/x.png",
                                 f"uploads/{uuid.uuid4()}/other"])
def test_malformed_upload_keys_are_refused(client: Client, key: str) -> None:
    with pytest.raises(RecordsFailed) as caught:
        client.s3_put(BUCKET, key)
    assert caught.value.permanent


@pytest.mark.parametrize("key", ["converted/abc/image.png", "other/file.png"])
def test_keys_outside_uploads_never_run_the_route(client: Client, key: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []
    monkeypatch.setattr(processing, "process", lambda *a: calls.append(a))
    assert client.s3_put(BUCKET, key) == {"processed": 0, "records": 1}
    assert calls == []


def _truncated_dicom() -> bytes:
    data = dicom_bytes("CT_small.dcm")
    return data[: len(data) - 5000]


def _dicom_without_pixels() -> bytes:
    return dicom_bytes("rtplan.dcm")


def _huge_declared_dicom() -> bytes:
    import pydicom

    ds = pydicom.dcmread(io.BytesIO(dicom_bytes("CT_small.dcm")))
    ds.Rows = 65535
    ds.Columns = 65535
    ds.NumberOfFrames = 1000
    out = io.BytesIO()
    ds.save_as(out)
    return out.getvalue()


def _bomb_png() -> bytes:
    """A tiny PNG whose header claims 30000 x 30000 pixels."""
    import struct
    import zlib

    from opsfn.routes.imaging.render.png import SIGNATURE, chunk

    header = struct.pack(">IIBBBBB", 30000, 30000, 8, 0, 0, 0, 0)
    body = zlib.compress(b"\x00" * 30001 * 16, 9)
    return SIGNATURE + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


HOSTILE = [
    (b"%PDF-1.4 not an image at all" * 20, "photo.png", "image/png", "not a JPEG, PNG or DICOM"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "photo.png", "image/png", "corrupt or truncated"),
    (jpeg_bytes()[:200], "photo.jpg", "image/jpeg", "corrupt or truncated"),
    (jpeg_bytes(), "photo.jpg", "image/jpeg", "could not be analysed"),
    (_truncated_dicom(), "scan.dcm", "", "shorter than its header"),
    (_dicom_without_pixels(), "scan.dcm", "", "no pixel data"),
    (_huge_declared_dicom(), "scan.dcm", "", "exceed the configured limit"),
    (b"\x00" * 128 + b"DICM" + b"\xff" * 64, "scan.dcm", "", "DICOM"),
    (_bomb_png(), "photo.png", "image/png", "exceed the configured limit"),
]


@pytest.mark.parametrize(("data", "name", "ctype", "reason"), HOSTILE,
                         ids=["pdf", "png-garbage", "jpeg-truncated", "rekognition-refuses",
                              "dicom-truncated", "dicom-no-pixels", "dicom-huge", "dicom-garbage",
                              "png-bomb"])
def test_bad_content_fails_the_job_for_good_but_not_the_record(
        client: Client, data: bytes, name: str, ctype: str, reason: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    if reason == "could not be analysed":
        _rekognition_rejects(monkeypatch)
    job_id = _upload(client, data, name, ctype)
    result = client.s3_put(BUCKET, f"uploads/{job_id}/original")
    assert result == {"processed": 1, "records": 1}
    item = job_item(job_id)
    assert item is not None and item["status"] == "error"
    assert reason in item["error"]
    assert item["retryable"] is False
    assert "Traceback" not in item["error"] and len(item["error"]) <= 200
    assert not [k for k in _keys() if k.startswith("converted/")]
    # a repeated event does not retry final failures
    client.s3_put(BUCKET, f"uploads/{job_id}/original")
    assert job_item(job_id)["attempts"] == 1  # type: ignore[index]


def _rekognition_rejects(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto labels anything; real Rekognition refuses a truncated JPEG with this error."""
    from botocore.exceptions import ClientError

    def refuse(*_: Any, **__: Any) -> Any:
        raise ClientError({"Error": {"Code": "InvalidImageFormatException",
                                     "Message": "Request has invalid image format"}},
                          "DetectLabels")

    from opsfn.routes.imaging import labels

    monkeypatch.setattr(labels, "detect", refuse)


def test_transient_failure_fails_the_record_and_the_retry_completes(
        client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    from botocore.exceptions import ClientError

    from opsfn.routes.imaging import labels

    real = labels.detect
    attempts: list[int] = []

    def flaky(*args: Any, **kwargs: Any) -> Any:
        attempts.append(1)
        if len(attempts) == 1:
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}},
                              "DetectLabels")
        return real(*args, **kwargs)

    monkeypatch.setattr(labels, "detect", flaky)
    job_id = _upload(client, jpeg_bytes(), "a.jpg", "image/jpeg")
    with pytest.raises(RecordsFailed) as caught:
        client.s3_put(BUCKET, f"uploads/{job_id}/original")
    assert not caught.value.permanent
    item = job_item(job_id)
    # back to pending: a polling page keeps waiting for the retry instead of showing an error
    assert item is not None and item["status"] == "pending" and item["retryable"] is True
    assert "retried" in item["error"] and "Throttling" not in item["error"]
    body = client.get("/get-results", query={"jobId": job_id}).json()
    assert body["status"] == "pending"
    client.s3_put(BUCKET, f"uploads/{job_id}/original")  # Lambda's retry
    item = job_item(job_id)
    assert item is not None and item["status"] == "complete" and item["error"] is None


def test_large_images_are_labelled_from_a_downscaled_copy(client: Client,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from opsfn.routes.imaging import labels

    seen: list[str] = []
    real = labels.detect

    def spy(bucket: str, key: str, **kwargs: Any) -> Any:
        seen.append(key)
        return real(bucket, key, **kwargs)

    monkeypatch.setattr(labels, "detect", spy)
    monkeypatch.setenv("IMAGING_LABEL_MAX_SIDE", "100")
    job_id = _upload(client, jpeg_bytes((400, 300)), "big.jpg", "image/jpeg")
    client.s3_put(BUCKET, f"uploads/{job_id}/original")
    assert seen == [f"converted/{job_id}/labels.jpg"]
    copy = aws.client("s3").get_object(Bucket=BUCKET, Key=seen[0])["Body"].read()
    from PIL import Image

    assert Image.open(io.BytesIO(copy)).size == (107, 80)  # 80 px floor on the short side
    assert job_item(job_id)["status"] == "complete"  # type: ignore[index]


def test_tiny_images_complete_without_labels_and_say_why(client: Client) -> None:
    job_id = _upload(client, png_bytes((40, 40)), "tiny.png", "image/png")
    client.s3_put(BUCKET, f"uploads/{job_id}/original")
    item = job_item(job_id)
    assert item is not None and item["status"] == "complete"
    assert item["results"] == {"Labels": [], "message": (
        "The image is smaller than the 80 pixels a side Rekognition needs, so it has no labels.")}


def test_dicom_rekognition_refuses_completes_with_the_reason(
        client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    _rekognition_rejects(monkeypatch)
    job_id = _upload(client, dicom_bytes("CT_small.dcm"))
    client.s3_put(BUCKET, f"uploads/{job_id}/original")
    item = job_item(job_id)
    assert item is not None and item["status"] == "complete"  # the rendering is still shown
    assert item["imageKey"] == f"converted/{job_id}/image.png"
    assert item["results"]["Labels"] == []
    assert "Rekognition could not analyse" in item["results"]["message"]


def test_no_label_above_the_threshold_says_so(client: Client,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from opsfn.routes.imaging import labels

    monkeypatch.setattr(labels, "detect", lambda *a, **k: [])
    monkeypatch.setenv("IMAGING_MIN_CONFIDENCE", "85")
    job_id = _upload(client, png_bytes(), "a.png", "image/png")
    client.s3_put(BUCKET, f"uploads/{job_id}/original")
    item = job_item(job_id)
    assert item is not None and item["results"] == {
        "Labels": [], "message": "Rekognition found no labels with at least 85% confidence."}


# -- the object's size and existence, read before anything else --------------------------------
def test_object_over_the_limit_fails_its_job_and_is_deleted(client: Client,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A presigned PUT without fileSize cannot be bounded by S3: processing bounds it."""
    job_id = _upload(client, png_bytes(), "a.png", "image/png")
    monkeypatch.setenv("IMAGING_MAX_UPLOAD_BYTES", "100")
    calls: list[Any] = []
    monkeypatch.setattr(processing, "_read_object", lambda *a: calls.append(a))
    assert client.s3_put(BUCKET, f"uploads/{job_id}/original") == {"processed": 1, "records": 1}
    item = job_item(job_id)
    assert item is not None and item["status"] == "error"
    assert item["error"] == "the file is larger than the upload limit of 100 bytes"
    assert calls == []  # refused from the HEAD: the body was never read
    assert _keys() == []


def test_vanished_object_ends_the_job_and_is_not_retried(client: Client) -> None:
    """Deleted (or expired by the lifecycle rule) before its event was processed."""
    job_id = _upload(client, png_bytes(), "a.png", "image/png")
    aws.client("s3").delete_object(Bucket=BUCKET, Key=f"uploads/{job_id}/original")
    # the record succeeds however it arrives: nothing for Lambda, SQS or EventBridge to retry
    assert client.s3_put(BUCKET, f"uploads/{job_id}/original") == {"processed": 1, "records": 1}
    assert client.s3_put(BUCKET, f"uploads/{job_id}/original", via="sqs") == {
        "batchItemFailures": []}
    client.s3_put(BUCKET, f"uploads/{job_id}/original", via="eventbridge")  # raises if failed
    item = job_item(job_id)
    assert item is not None and item["status"] == "error" and item["retryable"] is False
    assert item["error"] == processing.GONE_REASON
    assert item["attempts"] == 1
    body = client.get("/get-results", query={"jobId": job_id}).json()
    assert (body["status"], body["error"]) == ("error", processing.GONE_REASON)


def test_object_vanishing_while_it_is_labelled_ends_the_job(
        client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    from botocore.exceptions import ClientError

    from opsfn.routes.imaging import labels

    def gone(bucket: str, key: str, **_: Any) -> Any:
        aws.client("s3").delete_object(Bucket=bucket, Key=key)
        raise ClientError({"Error": {"Code": "InvalidS3ObjectException",
                                     "Message": "Unable to get object metadata from S3"}},
                          "DetectLabels")

    monkeypatch.setattr(labels, "detect", gone)
    job_id = _upload(client, png_bytes(), "a.png", "image/png")
    assert client.s3_put(BUCKET, f"uploads/{job_id}/original") == {"processed": 1, "records": 1}
    assert job_item(job_id)["error"] == processing.GONE_REASON  # type: ignore[index]


def _labelling_fails_with(client: Client, monkeypatch: pytest.MonkeyPatch, code: str
                          ) -> tuple[str, RecordsFailed]:
    """Upload a PNG whose DetectLabels call fails with ``code``; the job id and the failure."""
    from botocore.exceptions import ClientError

    from opsfn.routes.imaging import labels

    def failing(*_: Any, **__: Any) -> Any:
        raise ClientError({"Error": {"Code": code, "Message": "no"}}, "DetectLabels")

    monkeypatch.setattr(labels, "detect", failing)
    job_id = _upload(client, png_bytes(), "a.png", "image/png")
    with pytest.raises(RecordsFailed) as caught:
        client.s3_put(BUCKET, f"uploads/{job_id}/original")
    return job_id, caught.value


def test_unreadable_existing_object_is_retried(client: Client,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Rekognition failing to read an object that is still there is not the upload's fault."""
    job_id, failure = _labelling_fails_with(client, monkeypatch, "InvalidS3ObjectException")
    assert not failure.permanent
    assert job_item(job_id)["status"] == "pending"  # type: ignore[index]


def test_a_permanent_aws_failure_ends_the_job_instead_of_waiting_for_a_retry(
        client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    """AccessDenied describes the deployment, not the moment: the event is parked, not retried,
    so the page is told ``error`` instead of polling ``pending`` forever."""
    job_id, failure = _labelling_fails_with(client, monkeypatch, "AccessDeniedException")
    assert failure.permanent
    item = job_item(job_id)
    assert item is not None and item["status"] == "error"
    assert item["error"] == processing.FAILED_REASON


def test_bigger_object_put_after_completion_is_deleted(client: Client,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The presigned PUT can be used again until it expires: its event finds the job done."""
    monkeypatch.setenv("IMAGING_MAX_UPLOAD_BYTES", "4000")
    job_id = _upload(client, png_bytes(), "a.png", "image/png")
    key = f"uploads/{job_id}/original"
    client.s3_put(BUCKET, key)
    first = job_item(job_id)
    assert first is not None and first["status"] == "complete"
    aws.client("s3").put_object(Bucket=BUCKET, Key=key, Body=b"\x00" * 5000)
    client.s3_put(BUCKET, key)
    assert _keys() == []
    assert job_item(job_id) == first


def test_logs_never_hold_file_names_or_keys(client: Client, caplog: pytest.LogCaptureFixture
                                            ) -> None:
    reply = request_upload(client, "Jane Roe MRN12345.dcm", "")
    key = reply["uploadPost"]["fields"]["key"]
    aws.client("s3").put_object(Bucket=BUCKET, Key=key, Body=dicom_bytes("MR_small.dcm"))
    client.s3_put(BUCKET, key)
    text = " ".join(str(record.__dict__) for record in caplog.records)
    assert "upload processed" in text
    assert "MRN12345" not in text and "Jane" not in text
    assert "uploads/" not in text and "X-Amz-Signature" not in text


def test_every_record_of_an_event_is_processed_and_failures_raise_after(client: Client) -> None:
    from opsfn.testing import s3_event

    first = _upload(client, png_bytes(), "a.png", "image/png")
    second = _upload(client, jpeg_bytes(), "b.jpg", "image/jpeg")
    unknown = f"uploads/{uuid.uuid4()}/original"
    event = s3_event(BUCKET, [f"uploads/{first}/original", unknown, f"uploads/{second}/original"])
    with pytest.raises(RecordsFailed) as caught:
        client.handle(event)
    assert caught.value.failed == 1 and caught.value.total == 3
    for job_id in (first, second):
        assert job_item(job_id)["status"] == "complete"  # type: ignore[index]


def test_url_encoded_keys_are_decoded(client: Client) -> None:
    """S3 URL-encodes keys in notifications; ours hold no characters that need it, but a '+'-style
    encoding of the path separators must still resolve to the job."""
    from opsfn.testing import s3_event

    job_id = _upload(client, png_bytes(), "a.png", "image/png")
    event = s3_event(BUCKET, f"uploads/{job_id}/original")
    event["Records"][0]["s3"]["object"]["key"] = f"uploads%2F{job_id}%2Foriginal"
    assert client.handle(event) == {"processed": 1, "records": 1}
    assert job_item(job_id)["status"] == "complete"  # type: ignore[index]
