"""Amazon SES: SMTP credentials and the active receipt rule set.

Replaces the OpenEMR on ECS stack's ``generate_smtp_credential`` and receipt-rule-set functions.
Public routes: the custom resources ``Custom::SmtpCredential`` and ``Custom::ActiveReceiptRuleSet``,
the actions ``rotate_smtp_credential`` and ``activate_receipt_rule_set``, and the inbound mail
relay (SES receipt events, ``relay.py``).

``router`` is built on first access, so that the handler (which registers routes from the
manifest) can import one module without the others.
"""

from __future__ import annotations

from opsfn.lazy import attributes

__all__ = ["router"]

__getattr__, __dir__ = attributes(globals(), {"router": "opsfn.routes.ses.routes:router"})
