"""Fake credentials and moto for every test: nothing reaches AWS."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

BUCKET = "clinic-referrals"
LAB_QUEUE = "clinic-lab-results"
NOTICES_TOPIC = "arn:aws:sns:us-east-1:123456789012:clinic-notices"


@pytest.fixture(autouse=True)
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    from moto import mock_aws

    from opsfn.services import aws as opsfn_aws

    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
                        "POWERTOOLS_METRICS_DISABLED": "true", "OPSFN_ACCESS_CHECK": "deny",
                        "CLINIC_REFERRALS_BUCKET": BUCKET, "CLINIC_NAME": "Northside",
                        "CLINIC_LAB_RESULTS_QUEUE": LAB_QUEUE,
                        "CLINIC_NOTICES_TOPIC": NOTICES_TOPIC}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        opsfn_aws.reset()
        import boto3

        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        yield s3
    opsfn_aws.reset()
