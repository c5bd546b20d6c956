"""Shared fixtures: fake AWS credentials for every test, moto on demand, fresh clients."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from opsfn.services import aws

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
    # Every AWS call a route makes must be one its access= declares (opsfn.access).
    monkeypatch.setenv("OPSFN_ACCESS_CHECK", "deny")
    if not os.environ.get("OPSFN_TEST_KEEP_ENDPOINT"):
        monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    aws.reset()
    yield
    aws.reset()


@pytest.fixture
def moto_aws() -> Iterator[None]:
    """Every boto3 call of the test goes to moto, in process."""
    from moto import mock_aws

    with mock_aws(), _secret_current_follows_its_label():
        aws.reset()
        yield
    aws.reset()


@pytest.fixture
def routes_role(moto_aws: None, monkeypatch: pytest.MonkeyPatch) -> str:
    """A routes role in moto, named by OPSFN_ROUTES_ROLE_ARN: routes then run on sessions of it
    narrowed to their declarations, as deployed (opsfn.services.scoped). Returns its ARN."""
    import json

    from moto.sts.models import sts_backends

    role = aws.client("iam").create_role(RoleName="opsfn-routes", AssumeRolePolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                 "Principal": {"AWS": "arn:aws:iam::123456789012:root"}}]}))
    sts_backends["123456789012"]["global"].assumed_roles.clear()  # moto keeps them across mocks
    monkeypatch.setenv("OPSFN_ROUTES_ROLE_ARN", role["Role"]["Arn"])
    return str(role["Role"]["Arn"])


@contextlib.contextmanager
def _secret_current_follows_its_label() -> Iterator[None]:
    """moto's UpdateSecretVersionStage moves the AWSCURRENT label but not the version that a
    GetSecretValue without a stage returns; AWS returns the AWSCURRENT version. Keep the two
    together, so readers (an ECS task starting reads the default) see what they see on AWS."""
    from moto.secretsmanager.models import SecretsManagerBackend

    original = SecretsManagerBackend.update_secret_version_stage

    def update(backend: SecretsManagerBackend, secret_id: str, version_stage: str,
               remove_from_version_id: str, move_to_version_id: str) -> tuple[str, str]:
        result = original(backend, secret_id, version_stage, remove_from_version_id,
                          move_to_version_id)
        if version_stage == "AWSCURRENT" and move_to_version_id:
            backend.secrets[secret_id].default_version_id = move_to_version_id
        return result

    SecretsManagerBackend.update_secret_version_stage = update  # type: ignore[method-assign]
    try:
        yield
    finally:
        SecretsManagerBackend.update_secret_version_stage = original  # type: ignore[method-assign]


@pytest.fixture
def log_lines(caplog: pytest.LogCaptureFixture) -> Iterator[object]:
    """A function returning every log line of the test as the JSON formatter writes it."""
    from opsfn.core.observability import get_logger

    formatter = get_logger().registered_formatter
    caplog.set_level("DEBUG")

    def lines() -> list[str]:
        return [formatter.format(record) for record in caplog.records]

    yield lines


@pytest.fixture(scope="module")
def moto_server() -> Iterator[str]:
    """moto's HTTP server on a free port, for what needs a real endpoint (presigned URLs,
    child processes, code paths that bypass the SDK)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


TEMPLATE = Path(__file__).resolve().parents[1] / "infra" / "template.yaml"


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    """infra/template.yaml as written (intrinsics kept as tagged values)."""
    from opsfn.tooling.template_reader import load_template

    return load_template(TEMPLATE)


@pytest.fixture(scope="module")
def transformed() -> dict[str, Any]:
    """The template as CloudFormation sees it after the ``AWS::Serverless-2016-10-31`` transform."""
    from samtranslator.translator.transform import transform
    from samtranslator.yaml_helper import yaml_parse

    class NoManagedPolicies:
        def load(self) -> dict[str, str]:
            return {}

    document = yaml_parse(TEMPLATE.read_text())
    # What `sam package` does: the build output becomes an S3 object.
    document["Resources"]["OpsFunction"]["Properties"]["CodeUri"] = "s3://artifacts/opsfn.zip"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        return transform(document, {}, NoManagedPolicies())  # type: ignore[no-any-return]


pytest_plugins = ["tests.leakcheck", "tests.shared_botocore"]
