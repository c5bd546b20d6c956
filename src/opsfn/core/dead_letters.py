"""Permanent failures go to the failed-events queue at once instead of being retried.

A failure marked ``permanent`` describes the input (an unknown bucket, a body that does not
validate, content that is not an image): retrying the same event cannot succeed. Lambda would
still retry an asynchronous event twice and an SQS message until its queue's ``maxReceiveCount``
before either reaches a dead-letter queue, and every retry runs the route again. So an async
event or an SQS message that failed permanently is sent to ``OPSFN_FAILED_EVENTS_QUEUE`` once,
with the error's code, and reported done. Nothing is lost: when no queue is configured, or the
send fails, or the message is too large for SQS, the failure is reported as before and the
platform's retries and dead-letter queue take over.

An event that carries patient data it does not need for a redrive (an SES receipt event's headers,
subject and addresses) is parked in the form :data:`KEPT_FORMS` names: the queue is read by
operators, so it keeps what a redrive needs and nothing more.

Sending needs the SDK, which lives above core: the entry points install the sender
(:func:`use_sender`, done by :mod:`opsfn.handler`, :class:`opsfn.testing.Client` and the local
stack's in-process runtime). Without one, a failure is reported as it would be without a queue,
with a warning that says why.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from opsfn.core.access import allow, queue
from opsfn.core.observability import get_logger
from opsfn.errors import OpsfnError
from opsfn.events.jsonable import dumps
from opsfn.lazy import load

MAX_MESSAGE_BYTES = 256 * 1024  # SQS's limit for one message
# source -> "module:function" giving the form of its event that may be kept (imported when used)
KEPT_FORMS = {"ses": "opsfn.events.ses:redrivable"}

ACCESS = (allow("sqs:GetQueueUrl", "sqs:SendMessage", on=queue("OPSFN_FAILED_EVENTS_QUEUE")),)
"""What parking needs: part of every deployment's role, whatever its routes."""

Sender = Callable[[str, str, Mapping[str, str]], None]
"""Sends a message body with string attributes to a queue given by its URL, name or ARN."""

_senders: list[Sender] = []


def use_sender(sender: Sender) -> None:
    """Make ``sender`` the one that parks failed events from now on (idempotent)."""
    _senders[:] = [sender]


def kept_form(source: str, payload: Any) -> Any:
    """``payload`` as the failed-events queue may keep it."""
    home = KEPT_FORMS.get(source)
    if home is None:
        return payload
    return load(home)(payload)


def park(source: str, payload: Any, error: OpsfnError, queue: str | None) -> bool:
    """Send ``payload`` to the failed-events ``queue``; True when it is safely there."""
    if not queue or not error.permanent:
        return False
    if not _senders:
        get_logger().warning("permanent failure not parked: no sender is installed",
                             extra={"source": source, "error": error.code})
        return False
    body = dumps({"source": source, "error": error.code, "permanent": True,
                  "payload": kept_form(source, payload)})
    if len(body.encode("utf-8")) > MAX_MESSAGE_BYTES:
        return False
    try:
        _senders[0](queue, body, {"error": error.code, "source": source})
    except Exception as failure:  # noqa: BLE001 - the platform's own retries still hold it
        get_logger().warning("permanent failure could not be parked", extra={
            "source": source, "error": error.code, "error_type": type(failure).__name__})
        return False
    get_logger().warning("permanent failure parked in the failed-events queue",
                         extra={"source": source, **error.log_fields()})
    return True
