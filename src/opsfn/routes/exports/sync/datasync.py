"""The DataSync backend of the sync, as data: which task a configuration needs, and what an
execution's figures mean. Pure: no AWS calls (``datasync_task`` makes them).

A task is identified by a fingerprint of everything that shapes it (file system, directory,
network, roles, bucket, prefix, excludes, logging). Its name carries the fingerprint, so the same
configuration finds the task it created before, and a changed one gets a new task instead of
silently reusing one that copies something else. Deleting is not part of the fingerprint: it is
passed per execution (``PreserveDeletedFiles``), like ``delete`` for the in-function engine.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Final, Literal

NAME_PREFIX: Final = "opsfn-sync-"
RUNNING: Final = frozenset({"QUEUED", "RUNNING"})  # task states with an execution under way
FINISHED: Final = frozenset({"SUCCESS", "ERROR"})  # execution states that end it
TAG: Final = {"Key": "opsfn", "Value": "sync"}


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """What the DataSync task must be for the current settings."""

    efs_arn: str
    subdirectory: str
    subnet_arn: str
    security_group_arns: tuple[str, ...]
    bucket: str
    prefix: str
    s3_role_arn: str
    excludes: tuple[str, ...] = ()  # directory keys relative to the copied tree ("ssl/")
    access_point_arn: str | None = None
    efs_role_arn: str | None = None
    log_group_arn: str | None = None

    @property
    def fingerprint(self) -> str:
        """A short digest of every field: equal settings, equal task."""
        text = json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:20]

    @property
    def name(self) -> str:
        """The task's name (DataSync allows 256 characters; this is 31)."""
        return NAME_PREFIX + self.fingerprint

    def exclude_filters(self) -> list[dict[str, str]]:
        """The task's ``Excludes``: one SIMPLE_PATTERN of ``/dir`` paths joined by ``|``."""
        if not self.excludes:
            return []
        paths = "|".join("/" + key.strip("/") for key in sorted(self.excludes))
        return [{"FilterType": "SIMPLE_PATTERN", "Value": paths}]

    def options(self, delete: bool) -> dict[str, str]:
        """The task's ``Options``: copy what changed, verify it, delete only when asked."""
        return {
            "TransferMode": "CHANGED",
            "VerifyMode": "ONLY_FILES_TRANSFERRED",
            "OverwriteMode": "ALWAYS",
            "PreserveDeletedFiles": delete_option(delete),
            "LogLevel": "BASIC" if self.log_group_arn else "OFF",
        }

    def efs_location(self) -> dict[str, Any]:
        """Arguments of CreateLocationEfs (TLS in transit always: the tree holds patient files)."""
        args: dict[str, Any] = {
            "EfsFilesystemArn": self.efs_arn,
            "Subdirectory": self.subdirectory,
            "Ec2Config": {"SubnetArn": self.subnet_arn,
                          "SecurityGroupArns": list(self.security_group_arns)},
            "InTransitEncryption": "TLS1_2",
            "Tags": [TAG],
        }
        if self.access_point_arn:
            args["AccessPointArn"] = self.access_point_arn
        if self.efs_role_arn:
            args["FileSystemAccessRoleArn"] = self.efs_role_arn
        return args

    def s3_location(self) -> dict[str, Any]:
        """Arguments of CreateLocationS3."""
        return {"S3BucketArn": f"arn:{partition_of(self.efs_arn)}:s3:::{self.bucket}",
                "Subdirectory": "/" + self.prefix, "S3StorageClass": "STANDARD",
                "S3Config": {"BucketAccessRoleArn": self.s3_role_arn}, "Tags": [TAG]}


def delete_option(delete: bool) -> Literal["REMOVE", "PRESERVE"]:
    """``PreserveDeletedFiles`` for a sync that does (or does not) remove vanished files."""
    return "REMOVE" if delete else "PRESERVE"


def partition_of(arn: str) -> str:
    """The partition of an ARN (``aws``, ``aws-cn``, ``aws-us-gov``)."""
    parts = arn.split(":")
    return parts[1] if len(parts) > 2 and parts[1] else "aws"


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _time(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else None


def execution_figures(reply: Mapping[str, Any]) -> dict[str, Any]:
    """A DescribeTaskExecution reply as the status report: progress and figures, JSON-safe.

    ``ErrorDetail`` is left out on purpose: DataSync writes file paths into it, and file names
    in this tree may name patients. ``error_code`` says what kind of failure it was.
    """
    status = str(reply.get("Status") or "UNKNOWN")
    expected_bytes = _int(reply.get("EstimatedBytesToTransfer"))
    transferred = _int(reply.get("BytesTransferred"))
    if expected_bytes:
        percent = min(100.0, round(100.0 * transferred / expected_bytes, 1))
    else:
        percent = 100.0 if status == "SUCCESS" else 0.0
    result = _dict(reply.get("Result"))
    failed = _dict(reply.get("FilesFailed"))
    listed = _dict(reply.get("FilesListed"))
    return {
        "status": status,
        "complete": status in FINISHED,
        "percent": percent,
        "started": _time(reply.get("StartTime")),
        "files_expected": _int(reply.get("EstimatedFilesToTransfer")),
        "files_listed": _int(listed.get("AtSource")),
        "files_transferred": _int(reply.get("FilesTransferred")),
        "files_verified": _int(reply.get("FilesVerified")),
        "files_skipped": _int(reply.get("FilesSkipped")),
        "files_deleted": _int(reply.get("FilesDeleted")),
        "files_failed": sum(_int(value) for value in failed.values()),
        "bytes_expected": expected_bytes,
        "bytes_transferred": transferred,
        "bytes_written": _int(reply.get("BytesWritten")),
        "bytes_compressed": _int(reply.get("BytesCompressed")),
        "phases": {phase: {"status": result.get(f"{phase.capitalize()}Status"),
                           "ms": _int(result.get(f"{phase.capitalize()}Duration"))}
                   for phase in ("prepare", "transfer", "verify")},
        "error_code": result.get("ErrorCode") if isinstance(result.get("ErrorCode"), str) else None,
    }
