"""Amazon SES: SMTP credentials and the active receipt rule set.

Replaces OpenEMR's ``generate_smtp_credential`` and receipt-rule-set functions (seed 000).
Public routes: the custom resources ``Custom::SmtpCredential`` and ``Custom::ActiveReceiptRuleSet``,
the actions ``rotate_smtp_credential`` and ``activate_receipt_rule_set``, and the inbound mail
relay (SES receipt events, ``relay.py``).

``router`` is built on first access, so that the handler (which registers routes from the
manifest) can import one module without the others.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opsfn.core.router import Router

__all__ = ["router"]


def _build() -> Router:
    from opsfn.core.router import Router
    from opsfn.routes.ses import receipt_rules, relay
    from opsfn.routes.ses.smtp import routes as smtp_routes

    combined = Router()
    for part in (smtp_routes.router, receipt_rules.router, relay.router):
        combined.routes.extend(part.routes)
    return combined


def __getattr__(name: str) -> Any:
    if name == "router":
        value = _build()
        globals()["router"] = value
        return value
    raise AttributeError(name)
