"""SQS records: the message id (for partial batch failures), the queue and the body."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from opsfn.events.envelope import Envelope


@dataclass(slots=True)
class SqsMessage(Envelope):
    """One SQS record. ``queue`` is the queue name taken from the source ARN."""

    message_id: str
    queue: str
    body: str
    attributes: dict[str, Any]
    receive_count: int
    fifo: bool

    def json(self) -> Any:
        """The body parsed as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.body)
        except (ValueError, TypeError, RecursionError):  # RecursionError: deeply nested JSON
            return None


def queue_name(arn_or_url: str) -> str:
    """The queue name from an ARN (``arn:aws:sqs:r:a:name``) or a queue URL (``.../a/name``)."""
    return arn_or_url.rsplit(":", 1)[-1].rsplit("/", 1)[-1]


def parse_record(record: Any) -> SqsMessage | None:
    """An :class:`SqsMessage`, or None when the record lacks the fields SQS always sends."""
    if not isinstance(record, dict):
        return None
    message_id = record.get("messageId")
    arn = record.get("eventSourceARN")
    body = record.get("body")
    if not isinstance(message_id, str) or not isinstance(arn, str) or not isinstance(body, str):
        return None
    attributes = record.get("attributes")
    attributes = attributes if isinstance(attributes, dict) else {}
    try:
        receive_count = int(attributes.get("ApproximateReceiveCount", 1))
    except (TypeError, ValueError):
        receive_count = 1
    name = queue_name(arn)
    return SqsMessage(message_id, name, body, attributes, receive_count, name.endswith(".fifo"))
