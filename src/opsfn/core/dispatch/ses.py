"""SES receipt events: every record tried, then raise if any failed (as for S3).

SES invokes the Lambda action asynchronously (``Event``) or, when the rule asks for it,
synchronously (``RequestResponse``), and then reads ``disposition`` from the reply: ``CONTINUE``
lets the rule set go on. Raising makes an asynchronous delivery retry and, in the end, reach the
function's on-failure destination, so a message is never dropped silently.
"""

from __future__ import annotations

from typing import Any

from opsfn.core.invocation import Invocation
from opsfn.core.observability import get_logger
from opsfn.core.route_call import run_route
from opsfn.errors import NotFound, OpsfnError, RecordsFailed
from opsfn.events.jsonable import to_jsonable
from opsfn.events.ses import SesMessage, parse_record


def run_ses_message(message: SesMessage, payload: Any, invocation: Invocation) -> list[Any]:
    """Run every SES route for one message; the first failure is raised after all ran."""
    routes = invocation.registry.ses
    if not routes:
        raise NotFound("no SES route")
    results: list[Any] = []
    errors: list[OpsfnError] = []
    for route in routes:
        try:
            results.append(to_jsonable(run_route(route, invocation, lambda: payload, "ses",
                                                  message)))
        except OpsfnError as error:
            errors.append(error)
    if errors:
        raise errors[0]
    return results


def dispatch_ses(event: dict[str, Any], invocation: Invocation) -> dict[str, Any]:
    """An ``aws:ses`` event; the reply tells SES to continue with the rule set."""
    records = event["Records"]
    results: list[Any] = []
    failures: list[OpsfnError] = []
    for record in records:
        try:
            message = parse_record(record)
            results += run_ses_message(message, record["ses"], invocation)
        except OpsfnError as error:
            failures.append(error)
            get_logger().warning("SES record failed", extra=error.log_fields())
    if failures:
        raise RecordsFailed(len(failures), len(records), failures)
    return {"disposition": "CONTINUE", "processed": len(records), "results": results}
