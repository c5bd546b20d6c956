"""The job state machine: conditional transitions only, against in-process moto."""

from __future__ import annotations

import uuid

import pytest

from opsfn.routes.imaging import jobs

pytestmark = pytest.mark.usefixtures("resources")


def _new() -> str:
    job_id = str(uuid.uuid4())
    jobs.create(job_id, file_type="image/png", file_name="a.png", s3_key=f"uploads/{job_id}/original")
    return job_id


def test_reusing_a_job_id_never_overwrites() -> None:
    from botocore.exceptions import ClientError

    job_id = _new()
    with pytest.raises(ClientError):
        jobs.create(job_id, file_type="image/jpeg", file_name="b.jpg", s3_key="x")
    assert jobs.get(job_id)["fileType"] == "image/png"  # type: ignore[index]


def test_pending_processing_complete() -> None:
    job_id = _new()
    assert jobs.claim(job_id, 300) == "claimed"
    assert jobs.claim(job_id, 300) == "busy"
    assert jobs.complete(job_id, results={"Labels": [{"Name": "Cat", "Confidence": 99.12345,
                                                      "Parents": [{"Name": "Animal"}]}]},
                         metadata={"width": 10, "ratio": 0.5}, image_key="k", kind="png")
    item = jobs.get(job_id)
    assert item is not None and item["status"] == "complete"
    assert item["results"]["Labels"] == [{"Name": "Cat", "Confidence": 99.12345,
                                          "Parents": [{"Name": "Animal"}]}]
    assert item["metadata"] == {"width": 10, "ratio": 0.5}
    assert "leaseUntil" not in item
    assert jobs.claim(job_id, 300) == "done"
    assert not jobs.complete(job_id, results={}, metadata={}, image_key="k", kind="png")
    assert not jobs.fail(job_id, "late")
    assert not jobs.release(job_id, "late")
    assert jobs.get(job_id)["status"] == "complete"  # type: ignore[index]


def test_final_failure_is_an_error_and_a_released_job_waits_for_its_retry() -> None:
    final, transient = _new(), _new()
    for job_id in (final, transient):
        assert jobs.claim(job_id, 300) == "claimed"
    assert jobs.fail(final, "bad content")
    assert jobs.release(transient, "try again")
    failed, waiting = jobs.get(final), jobs.get(transient)
    assert failed is not None and waiting is not None
    assert (failed["status"], failed["error"], failed["retryable"]) == ("error", "bad content", False)
    # the page keeps polling a pending job; the retry claims it again
    assert (waiting["status"], waiting["retryable"]) == ("pending", True)
    assert jobs.claim(final, 300) == "done"
    assert jobs.claim(transient, 300) == "claimed"
    assert jobs.get(transient)["attempts"] == 2  # type: ignore[index]


def test_items_written_as_failed_before_still_retry() -> None:
    job_id = _new()
    assert jobs.claim(job_id, 300) == "claimed"
    assert jobs._finish(job_id, {"status": jobs.LEGACY_FAILED, "retryable": True}, None)
    assert jobs.claim(job_id, 300) == "claimed"


def test_finishing_requires_holding_the_job() -> None:
    job_id = _new()
    assert not jobs.complete(job_id, results={}, metadata={}, image_key="k", kind="png")
    assert jobs.get(job_id)["status"] == "pending"  # type: ignore[index]


def test_unknown_job_is_missing() -> None:
    assert jobs.claim(str(uuid.uuid4()), 300) == "missing"
    assert jobs.get(str(uuid.uuid4())) is None


def test_attribute_values_round_trip() -> None:
    value = {"a": [1, 2.5, "x", None, True, {"b": -3}], "c": ""}
    assert jobs.from_attr(jobs.to_attr(value)) == value
    with pytest.raises(TypeError):
        jobs.to_attr(object())
