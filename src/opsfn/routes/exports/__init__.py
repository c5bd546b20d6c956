"""Data protection jobs: RDS snapshot export, EFS to S3 sync, AWS Backup.

Replaces OpenEMR's ``export_from_rds_to_s3`` and ``sync_efs_to_s3`` functions and its AWS Backup
automation (seed 000). Public routes: the actions ``export_rds_snapshot`` and ``export_status``
with the schedule ``export-rds-snapshot``; the action ``sync_efs_to_s3`` (also a work item of the
action queue, which carries its continuations and shards), ``sync_status`` and the schedule
``sync-efs-to-s3``; the actions ``start_backup_job`` and ``backup_job_status``.

``router`` is built on first access, so importing the package (the CLI does) stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opsfn.core.router import Router

__all__ = ["router"]

_router: Router | None = None


def _build() -> Router:
    from opsfn.core.router import Router
    from opsfn.routes.exports import backup, rds_export
    from opsfn.routes.exports.sync import routes as sync_routes

    combined = Router()
    for part in (rds_export.router, sync_routes.router, backup.router):
        combined.routes.extend(part.routes)
    return combined


def __getattr__(name: str) -> Any:
    global _router  # noqa: PLW0603 - built once per process on first use
    if name == "router":
        if _router is None:
            _router = _build()
        return _router
    raise AttributeError(name)
