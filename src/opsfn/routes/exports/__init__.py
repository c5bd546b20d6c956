"""Data protection jobs: RDS snapshot export, EFS to S3 sync, AWS Backup.

Replaces OpenEMR's ``export_from_rds_to_s3`` and ``sync_efs_to_s3`` functions and its AWS Backup
automation. Public routes: the actions ``export_rds_snapshot`` and ``export_status``
with the schedule ``export-rds-snapshot``; the action ``sync_efs_to_s3`` (also a work item of the
action queue, which carries its continuations and shards), ``sync_status`` and the schedule
``sync-efs-to-s3``; the actions ``start_backup_job`` and ``backup_job_status``.

``router`` is built on first access, so importing the package (the CLI does) stays cheap.
"""

from __future__ import annotations

from opsfn.lazy import attributes

__all__ = ["router"]

__getattr__, __dir__ = attributes(globals(), {"router": "opsfn.routes.exports.routes:router"})
