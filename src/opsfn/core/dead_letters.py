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
"""

from __future__ import annotations

import importlib
from typing import Any

from opsfn.core.access import allow, queue
from opsfn.core.observability import get_logger
from opsfn.errors import OpsfnError
from opsfn.events.jsonable import dumps

MAX_MESSAGE_BYTES = 256 * 1024  # SQS's limit for one message
# source -> "module:function" giving the form of its event that may be kept (imported when used)
KEPT_FORMS = {"ses": "opsfn.events.ses:redrivable"}

ACCESS = (allow("sqs:GetQueueUrl", "sqs:SendMessage", on=queue("OPSFN_FAILED_EVENTS_QUEUE")),)
"""What parking needs: part of every deployment's role, whatever its routes."""


def kept_form(source: str, payload: Any) -> Any:
    """``payload`` as the failed-events queue may keep it."""
    home = KEPT_FORMS.get(source)
    if home is None:
        return payload
    module, _, function = home.partition(":")
    return getattr(importlib.import_module(module), function)(payload)


def park(source: str, payload: Any, error: OpsfnError, queue: str | None) -> bool:
    """Send ``payload`` to the failed-events ``queue``; True when it is safely there."""
    if not queue or not error.permanent:
        return False
    body = dumps({"source": source, "error": error.code, "permanent": True,
                  "payload": kept_form(source, payload)})
    if len(body.encode("utf-8")) > MAX_MESSAGE_BYTES:
        return False
    from opsfn.services import aws

    sqs = aws.client("sqs")
    try:
        url = queue if queue.startswith(("https://", "http://")) else sqs.get_queue_url(
            QueueName=queue.rsplit(":", 1)[-1])["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody=body, MessageAttributes={
            "error": {"DataType": "String", "StringValue": error.code},
            "source": {"DataType": "String", "StringValue": source}})
    except Exception as failure:  # noqa: BLE001 - the platform's own retries still hold it
        get_logger().warning("permanent failure could not be parked", extra={
            "source": source, "error": error.code, "error_type": type(failure).__name__})
        return False
    get_logger().warning("permanent failure parked in the failed-events queue",
                         extra={"source": source, **error.log_fields()})
    return True
