"""Fault injection reaches botocore's retries, against moto."""

from __future__ import annotations

import pytest

from opsfn.services import aws
from opsfn.tooling.faults import inject_faults


def test_throttles_and_500s_are_retried_to_success(moto_aws: None,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSFN_AWS_MAX_ATTEMPTS", "10")
    aws.reset()
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="faulty")
    with inject_faults(0.3, kinds=("throttle", "server_error"), seed=3) as plan:
        for index in range(8):
            s3.put_object(Bucket="faulty", Key=f"k{index}", Body=b"x")
    assert sum(plan.injected.values()) > 0
    assert plan.attempts > 8
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="faulty")["Contents"]]
    assert len(keys) == 8


def test_exhausted_retries_surface_as_errors(moto_aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from botocore.exceptions import ClientError, ReadTimeoutError

    monkeypatch.setenv("OPSFN_AWS_MAX_ATTEMPTS", "2")
    aws.reset()
    ddb = aws.client("dynamodb")
    with inject_faults(1.0, kinds=("throttle",)), pytest.raises(ClientError) as info:
        ddb.list_tables()
    assert info.value.response["Error"]["Code"] == "ThrottlingException"
    with inject_faults(1.0, kinds=("timeout",)), pytest.raises(ReadTimeoutError):
        ddb.list_tables()
    assert ddb.list_tables()["TableNames"] == []  # hooks are gone afterwards


def test_only_named_operations_are_faulted(moto_aws: None) -> None:
    sqs = aws.client("sqs")
    with inject_faults(1.0, operations={"SendMessage"}) as plan:
        url = sqs.create_queue(QueueName="q")["QueueUrl"]
        assert url.endswith("/q")
    assert plan.injected.total() == 0
