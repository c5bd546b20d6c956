"""Settings of the data protection jobs: RDS snapshot export, EFS to S3 sync, AWS Backup."""

from __future__ import annotations

from typing import Literal

from opsfn.settings import MiB, SettingsSection, env_field

__all__ = ["ExportsSettings"]


class ExportsSettings(SettingsSection):
    """RDS export, EFS sync and Backup settings."""

    # -- RDS snapshot export ------------------------------------------------------------------
    rds_export_cluster_id: str | None = env_field(
        "RDS_EXPORT_CLUSTER_ID",
        "Aurora cluster exported: its newest snapshot, or itself with RDS_EXPORT_SOURCE=cluster."
    )
    rds_export_instance_id: str | None = env_field(
        "RDS_EXPORT_INSTANCE_ID", "RDS instance whose newest snapshot is exported (if no cluster)."
    )
    rds_export_bucket: str | None = env_field("RDS_EXPORT_BUCKET", "Bucket receiving snapshot exports.")
    rds_export_prefix: str = env_field("RDS_EXPORT_PREFIX", "Key prefix of snapshot exports.", "rds-exports")
    rds_export_kms_key_id: str | None = env_field(
        "RDS_EXPORT_KMS_KEY_ID", "KMS key (ARN or id) encrypting snapshot exports."
    )
    rds_export_role_arn: str | None = env_field(
        "RDS_EXPORT_ROLE_ARN", "IAM role RDS assumes to write the export to S3."
    )
    rds_export_source: Literal["snapshot", "cluster"] = env_field(
        "RDS_EXPORT_SOURCE",
        "What `export-rds-snapshot` exports: `snapshot` (the newest one) or `cluster` (the live "
        "DB cluster, SourceArn = its ARN).", "snapshot",
    )
    rds_export_cluster_arn: str | None = env_field(
        "RDS_EXPORT_CLUSTER_ARN",
        "DB cluster ARN exported live (default: looked up from RDS_EXPORT_CLUSTER_ID).",
    )

    # -- EFS to S3 sync -----------------------------------------------------------------------
    sync_source_dir: str | None = env_field(
        "SYNC_SOURCE_DIR", "Mounted directory (EFS) copied to S3 by sync_efs_to_s3."
    )
    sync_bucket: str | None = env_field("SYNC_BUCKET", "Bucket receiving the file system copy.")
    sync_prefix: str = env_field("SYNC_PREFIX", "Key prefix of the file system copy.", "efs/")
    sync_kms_key_id: str | None = env_field(
        "SYNC_KMS_KEY_ID", "KMS key for SSE-KMS on synced objects (unset: SSE-S3, AES256)."
    )
    sync_delete: bool = env_field(
        "SYNC_DELETE", "Delete objects whose files are gone from the source.", False
    )
    sync_shard_top_level: bool = env_field(
        "SYNC_SHARD_TOP_LEVEL",
        "Fan top-level directories out as separate work items through the action queue.",
        False,
    )
    sync_concurrency: int = env_field(
        "SYNC_CONCURRENCY", "Parallel uploads per sync.", 16, ge=1, le=64
    )
    sync_multipart_threshold: int = env_field(
        "SYNC_MULTIPART_THRESHOLD",
        "Files at least this large go multipart (bytes; two parts' worth: one part is a PutObject).",
        16 * MiB,
        ge=5 * MiB,
    )
    sync_multipart_chunk: int = env_field(
        "SYNC_MULTIPART_CHUNK", "Multipart part size (bytes).", 8 * MiB, ge=5 * MiB
    )
    sync_deadline_margin_ms: int = env_field(
        "SYNC_DEADLINE_MARGIN_MS",
        "Stop starting uploads this long before the Lambda deadline and enqueue a continuation.",
        60_000,
        ge=1_000,
    )
    sync_state_prefix: str = env_field(
        "SYNC_STATE_PREFIX", "Key prefix (in the sync bucket) of sync manifests.", ".opsfn-sync/"
    )

    # -- EFS to S3 sync through AWS DataSync --------------------------------------------------
    sync_engine: Literal["function", "datasync"] = env_field(
        "SYNC_ENGINE",
        "Who copies the tree for sync_efs_to_s3: `function` (this function walks SYNC_SOURCE_DIR) or "
        "`datasync` (a DataSync task: a file system the function does not mount, or a tree too "
        "big for it).",
        "function",
    )
    sync_datasync_efs_arn: str | None = env_field(
        "SYNC_DATASYNC_EFS_ARN", "EFS file system (ARN) the DataSync task copies."
    )
    sync_datasync_efs_subdirectory: str = env_field(
        "SYNC_DATASYNC_EFS_SUBDIRECTORY",
        "Directory of that file system the task copies; when the function mounts the same tree, "
        "SYNC_SOURCE_DIR names it (that is how SSL_DIR is found and excluded).",
        "/", min_length=1, max_length=4096,
    )
    sync_datasync_subnet_arn: str | None = env_field(
        "SYNC_DATASYNC_SUBNET_ARN", "Subnet (ARN) where DataSync reaches a mount target."
    )
    sync_datasync_security_group_arns: str | None = env_field(
        "SYNC_DATASYNC_SECURITY_GROUP_ARNS",
        "Comma-separated security group ARNs DataSync uses (NFS, TCP 2049, to a mount target).",
    )
    sync_datasync_access_point_arn: str | None = env_field(
        "SYNC_DATASYNC_EFS_ACCESS_POINT_ARN", "EFS access point DataSync mounts through (optional)."
    )
    sync_datasync_efs_role_arn: str | None = env_field(
        "SYNC_DATASYNC_EFS_ROLE_ARN",
        "Role DataSync mounts the file system with (IAM authorisation; needed with an access point).",
    )
    sync_datasync_s3_role_arn: str | None = env_field(
        "SYNC_DATASYNC_S3_ROLE_ARN", "Role DataSync writes the sync bucket with."
    )
    sync_datasync_log_group_arn: str | None = env_field(
        "SYNC_DATASYNC_LOG_GROUP_ARN",
        "CloudWatch log group for the task's BASIC logs (their error lines name files); unset: off.",
    )

    # -- AWS Backup ---------------------------------------------------------------------------
    backup_vault_name: str | None = env_field("BACKUP_VAULT_NAME", "AWS Backup vault for on-demand jobs.")
    backup_role_arn: str | None = env_field(
        "BACKUP_ROLE_ARN", "IAM role AWS Backup assumes for on-demand jobs."
    )
    backup_resource_arn: str | None = env_field(
        "BACKUP_RESOURCE_ARN", "Resource backed up on demand (EFS file system or RDS cluster ARN)."
    )
    backup_delete_after_days: int | None = env_field(
        "BACKUP_DELETE_AFTER_DAYS", "Recovery points expire after this many days (unset: keep).",
        None, ge=1,
    )
