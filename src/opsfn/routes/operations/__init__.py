"""Operations: incident remediation, the on-demand database, and Glue ETL triggering."""

from __future__ import annotations

from opsfn.router import Router
from opsfn.routes.operations import database, glue, incidents

routers: list[Router] = [incidents.router, database.router, glue.router]
router = Router()
for _part in routers:
    router.routes.extend(_part.routes)

__all__ = ["router", "routers"]
