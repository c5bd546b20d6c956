"""SNS notifications, both as Lambda records and as the JSON envelope SNS puts in SQS bodies."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from opsfn.events.envelope import Envelope


@dataclass(slots=True)
class SnsMessage(Envelope):
    """One SNS notification. ``topic`` is the topic name taken from its ARN."""

    message_id: str
    topic_arn: str
    topic: str
    subject: str | None
    message: str
    attributes: dict[str, Any]

    def json(self) -> Any:
        """The message parsed as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.message)
        except (ValueError, TypeError, RecursionError):  # RecursionError: deeply nested JSON
            return None


def _from_fields(fields: dict[str, Any]) -> SnsMessage | None:
    message = fields.get("Message")
    topic_arn = fields.get("TopicArn")
    if not isinstance(message, str) or not isinstance(topic_arn, str):
        return None
    message_id = fields.get("MessageId")
    subject = fields.get("Subject")
    attributes = fields.get("MessageAttributes")
    return SnsMessage(
        message_id=message_id if isinstance(message_id, str) else "",
        topic_arn=topic_arn,
        topic=topic_arn.rsplit(":", 1)[-1],
        subject=subject if isinstance(subject, str) else None,
        message=message,
        attributes=attributes if isinstance(attributes, dict) else {},
    )


def parse_record(record: Any) -> SnsMessage | None:
    """A Lambda SNS record (``Records[i].Sns``), or None when it is malformed."""
    if not isinstance(record, dict) or not isinstance(record.get("Sns"), dict):
        return None
    return _from_fields(record["Sns"])


def parse_envelope(payload: Any) -> SnsMessage | None:
    """The envelope SNS writes into an SQS body (unless raw delivery is on), or None."""
    if (
        isinstance(payload, dict)
        and payload.get("Type") == "Notification"
        and "TopicArn" in payload
        and "Message" in payload
    ):
        return _from_fields(payload)
    return None
