"""The ses domain's router: the SMTP credential, receipt rule set and inbound relay routes, in that order."""

from __future__ import annotations

from opsfn import Router
from opsfn.routes.ses import receipt_rules, relay
from opsfn.routes.ses.smtp import routes as smtp_routes

__all__ = ["router"]

router = Router()
for _part in (smtp_routes.router, receipt_rules.router, relay.router):
    router.routes.extend(_part.routes)
