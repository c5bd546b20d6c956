"""AWS Backup on demand: moto has no StartBackupJob, so botocore's Stubber checks each request
against the real service model while the route runs through the Lambda path."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.stub import ANY, Stubber

from opsfn.errors import NotFound, UpstreamError, ValidationFailed
from opsfn.routes.exports.backup import token_for
from opsfn.services import aws
from opsfn.testing import Client
from tests.stubs import stubbed

VAULT = "opsfn-vault"
ROLE = "arn:aws:iam::123456789012:role/backup"
EFS = "arn:aws:elasticfilesystem:us-east-1:123456789012:file-system/fs-0123456789abcdef0"


@pytest.fixture
def backup(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stubber]:
    monkeypatch.setenv("BACKUP_VAULT_NAME", VAULT)
    monkeypatch.setenv("BACKUP_ROLE_ARN", ROLE)
    monkeypatch.setenv("BACKUP_RESOURCE_ARN", EFS)
    with stubbed("backup") as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def started(job_id: str = "job-1") -> dict[str, Any]:
    return {"BackupJobId": job_id, "CreationDate": datetime(2026, 1, 2, 3, 4, tzinfo=UTC),
            "RecoveryPointArn": f"arn:aws:backup:us-east-1:123456789012:recovery-point:{job_id}"}


def test_start_sends_the_configured_job_with_an_idempotency_token(client: Client,
                                                                 backup: Stubber) -> None:
    backup.add_response("start_backup_job", started(), {
        "BackupVaultName": VAULT, "ResourceArn": EFS, "IamRoleArn": ROLE,
        "IdempotencyToken": "deploy-42", "StartWindowMinutes": 60})
    reply = client.invoke("start_backup_job", idempotency_token="deploy-42")
    assert reply == {"backup_job_id": "job-1", "creation_date": "2026-01-02T03:04:00+00:00",
                     "recovery_point_arn": started()["RecoveryPointArn"], "backup_vault_name": VAULT,
                     "resource_arn": EFS, "idempotency_token": "deploy-42"}
    json.dumps(reply)


def test_a_retried_request_reuses_its_token(client: Client, backup: Stubber,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from opsfn import testing

    tokens: list[str] = []
    aws.client("backup").meta.events.register(
        "provide-client-params.backup.StartBackupJob",
        lambda params, **_: tokens.append(params["IdempotencyToken"]))
    for _ in range(3):
        backup.add_response("start_backup_job", started(), {
            "BackupVaultName": VAULT, "ResourceArn": EFS, "IamRoleArn": ROLE,
            "IdempotencyToken": ANY, "StartWindowMinutes": 60,
            "Lifecycle": {"DeleteAfterDays": 35}})
    monkeypatch.setenv("BACKUP_DELETE_AFTER_DAYS", "35")
    event = {"action": "start_backup_job"}
    context = testing.FakeLambdaContext()
    client.app(event, context)
    client.app(event, context)  # Lambda's retry of the same request keeps its request id
    client.app(event, testing.FakeLambdaContext())  # a new request
    assert tokens[0] == tokens[1] == token_for(None, context.aws_request_id, EFS)
    assert tokens[2] != tokens[0]


def test_status_is_a_json_safe_summary(client: Client, backup: Stubber) -> None:
    backup.add_response("describe_backup_job", {
        "BackupJobId": "job-1", "State": "RUNNING", "PercentDone": "42.0", "ResourceArn": EFS,
        "ResourceType": "EFS", "BackupVaultName": VAULT,
        "CreationDate": datetime(2026, 1, 2, tzinfo=UTC),
        "ExpectedCompletionDate": datetime(2026, 1, 3, tzinfo=UTC), "BytesTransferred": 10},
        {"BackupJobId": "job-1"})
    reply = client.invoke("backup_job_status", backup_job_id="job-1")
    assert reply["state"] == "RUNNING" and reply["percent_done"] == "42.0"
    assert reply["creation_date"] == "2026-01-02T00:00:00+00:00" and reply["completion_date"] is None
    json.dumps(reply)


def test_unknown_job_is_not_found(client: Client, backup: Stubber) -> None:
    backup.add_client_error("describe_backup_job", "ResourceNotFoundException", http_status_code=400)
    with pytest.raises(NotFound):
        client.invoke("backup_job_status", backup_job_id="job-404")


@pytest.mark.parametrize(("code", "status"), [("ThrottlingException", 400),
                                              ("AccessDeniedException", 403)])
def test_failing_calls_are_clear_errors(client: Client, backup: Stubber, code: str, status: int
                                        ) -> None:
    backup.add_client_error("start_backup_job", code, http_status_code=status)
    with pytest.raises(UpstreamError) as caught:
        client.invoke("start_backup_job")
    assert caught.value.message == f"AWS StartBackupJob failed: {code}"


def test_bad_input_names_the_field(client: Client, backup: Stubber,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationFailed) as caught:
        client.invoke("start_backup_job", resource_arn="not-an-arn")
    assert caught.value.details[0]["loc"] == "payload.resource_arn"
    with pytest.raises(ValidationFailed) as caught:
        client.invoke("backup_job_status")
    assert caught.value.details[0]["loc"] == "payload.backup_job_id"
    monkeypatch.delenv("BACKUP_VAULT_NAME")
    with pytest.raises(Exception, match="BACKUP_VAULT_NAME"):
        client.invoke("start_backup_job")
