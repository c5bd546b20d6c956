"""On-demand AWS Backup jobs of the configured resource, and their status as plain JSON.

Each start carries an idempotency token (the caller's, or the Lambda request id, which Lambda keeps
across its own retries), so a retried or duplicated request does not start a second job.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from opsfn import Context, Router
from opsfn.access import ANY, allow, arn, arn_pattern
from opsfn.errors import NotFound
from opsfn.routes.exports.settings import ExportsSettings
from opsfn.services import aws

router = Router()

_BACKUP_ARN = re.compile(r"^arn:aws[a-z-]*:(elasticfilesystem|rds|dynamodb|ec2|fsx|s3|storagegateway)"
                         r":[a-z0-9-]*:\d{0,12}:[A-Za-z0-9:/._-]+$")


class StartBackupRequest(BaseModel):
    """Optional overrides of the configured resource, and the idempotency token."""

    model_config = ConfigDict(extra="forbid")

    resource_arn: str | None = Field(default=None, max_length=1024, pattern=_BACKUP_ARN.pattern)
    idempotency_token: str | None = Field(default=None, min_length=1, max_length=128)
    delete_after_days: int | None = Field(default=None, ge=1, le=36500)
    start_window_minutes: int = Field(default=60, ge=60, le=10080)


class BackupStatusRequest(BaseModel):
    """The job to report."""

    model_config = ConfigDict(extra="forbid")

    backup_job_id: str = Field(min_length=1, max_length=1024)


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else None


def token_for(explicit: str | None, request_id: str, resource_arn: str) -> str:
    """The caller's token, or one derived from the request id and the resource."""
    if explicit:
        return explicit
    return hashlib.sha256(f"{request_id}|{resource_arn}".encode()).hexdigest()[:64]


def summarize_job(job: dict[str, Any]) -> dict[str, Any]:
    """A backup job as plain JSON: no datetimes, no nested SDK objects."""
    return {
        "backup_job_id": job.get("BackupJobId"),
        "state": job.get("State"),
        "percent_done": job.get("PercentDone"),
        "status_message": job.get("StatusMessage"),
        "resource_arn": job.get("ResourceArn"),
        "resource_type": job.get("ResourceType"),
        "backup_vault_name": job.get("BackupVaultName"),
        "recovery_point_arn": job.get("RecoveryPointArn"),
        "backup_size_bytes": job.get("BackupSizeInBytes"),
        "bytes_transferred": job.get("BytesTransferred"),
        "creation_date": _iso(job.get("CreationDate")),
        "completion_date": _iso(job.get("CompletionDate")),
        "expected_completion_date": _iso(job.get("ExpectedCompletionDate")),
    }


def start_backup(request: StartBackupRequest, request_id: str) -> dict[str, Any]:
    """Start the on-demand job (a repeated token returns the same job)."""
    settings = ExportsSettings.current()
    vault = settings.required("BACKUP_VAULT_NAME")
    role = settings.required("BACKUP_ROLE_ARN")
    resource = request.resource_arn or settings.required("BACKUP_RESOURCE_ARN")
    token = token_for(request.idempotency_token, request_id, resource)
    params: dict[str, Any] = {
        "BackupVaultName": vault, "ResourceArn": resource, "IamRoleArn": role,
        "IdempotencyToken": token, "StartWindowMinutes": request.start_window_minutes,
    }
    days = request.delete_after_days or settings.backup_delete_after_days
    if days:
        params["Lifecycle"] = {"DeleteAfterDays": days}
    reply = aws.client("backup").start_backup_job(**params)
    return {
        "backup_job_id": reply.get("BackupJobId"),
        "recovery_point_arn": reply.get("RecoveryPointArn"),
        "creation_date": _iso(reply.get("CreationDate")),
        "backup_vault_name": vault,
        "resource_arn": resource,
        "idempotency_token": token,
    }


def job_status(job_id: str) -> dict[str, Any]:
    """The job's state as a JSON-safe summary; an unknown id is NotFound."""
    client = aws.client("backup")
    try:
        job = client.describe_backup_job(BackupJobId=job_id)
    except client.exceptions.ResourceNotFoundException:
        raise NotFound("no backup job with that id") from None
    return summarize_job(dict(job))


@router.action("start_backup_job", description="On-demand AWS Backup job of the configured resource.",
               access=[
                   allow("backup:StartBackupJob", name="OneVault", on=arn_pattern(
                       "arn:{partition}:backup:{region}:{account}:backup-vault:{BACKUP_VAULT_NAME}")),
                   allow("iam:PassRole", on=arn("BACKUP_ROLE_ARN"), name="PassOnlyTheBackupRole",
                         when={"StringEquals": {"iam:PassedToService": "backup.amazonaws.com"}}),
               ])
def start_backup_job(payload: StartBackupRequest, context: Context) -> dict[str, Any]:
    """Start a backup job; the idempotency token makes retries safe."""
    result = start_backup(payload, context.request_id or "no-request-id")
    context.logger.info("backup job started", extra={"backup_job_id": result["backup_job_id"]})
    return result


@router.action("backup_job_status", description="State and percent of an AWS Backup job.",
               access=[allow("backup:DescribeBackupJob", on=ANY, if_set="BACKUP_VAULT_NAME",
                             name="BackupJobStatusHasNoResourceLevelPermissions",
                             why="AWS Backup jobs have no resource-level permission")])
def backup_job_status(payload: BackupStatusRequest, context: Context) -> dict[str, Any]:
    """Report one backup job."""
    return job_status(payload.backup_job_id)
