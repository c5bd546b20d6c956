"""Sends a parked event to the failed-events queue with the SDK's SQS client.

The policy (which failures are parked, in what form, up to what size) is
:mod:`opsfn.core.dead_letters`'; this is only the sending, which needs AWS. The entry points
(:mod:`opsfn.handler`, :class:`opsfn.testing.Client`) hand it to the policy with
:func:`opsfn.core.dead_letters.use_sender`, so core never reaches up into services.
"""

from __future__ import annotations

from collections.abc import Mapping

from opsfn.services import aws


def queue_url(queue: str) -> str:
    """``queue``'s URL: given as one, or looked up from its name or ARN."""
    if queue.startswith(("https://", "http://")):
        return queue
    url: str = aws.client("sqs").get_queue_url(QueueName=queue.rsplit(":", 1)[-1])["QueueUrl"]
    return url


def send(queue: str, body: str, attributes: Mapping[str, str]) -> None:
    """Send ``body`` to ``queue`` with ``attributes`` as string message attributes."""
    aws.client("sqs").send_message(QueueUrl=queue_url(queue), MessageBody=body, MessageAttributes={
        name: {"DataType": "String", "StringValue": value} for name, value in attributes.items()})
