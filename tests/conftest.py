"""Shared fixtures: fake AWS credentials for every test, moto on demand, fresh clients."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from opsfn import aws

REGION = "us-east-1"


@pytest.fixture(autouse=True)
def _isolated_aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test can reach real AWS: fake credentials, a fixed region, no endpoint leaking in."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    if not os.environ.get("OPSFN_TEST_KEEP_ENDPOINT"):
        monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    aws.reset()
    yield
    aws.reset()


@pytest.fixture
def moto_aws() -> Iterator[None]:
    """Every boto3 call of the test goes to moto, in process."""
    from moto import mock_aws

    with mock_aws():
        aws.reset()
        yield
    aws.reset()


@pytest.fixture
def log_lines(caplog: pytest.LogCaptureFixture) -> Iterator[object]:
    """A function returning every log line of the test as the JSON formatter writes it."""
    from opsfn.observability import get_logger

    formatter = get_logger().registered_formatter
    caplog.set_level("DEBUG")

    def lines() -> list[str]:
        return [formatter.format(record) for record in caplog.records]

    yield lines


pytest_plugins = ["tests.leakcheck", "tests.shared_botocore"]
