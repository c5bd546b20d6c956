"""The exports domain's router: the RDS export, EFS-to-S3 sync and AWS Backup routes, in that order."""

from __future__ import annotations

from opsfn import Router
from opsfn.routes.exports import backup, rds_export
from opsfn.routes.exports.sync import routes as sync_routes

__all__ = ["router"]

router = Router()
for _part in (rds_export.router, sync_routes.router, backup.router):
    router.routes.extend(_part.routes)
