"""SNS notices: subjects and messages SNS accepts, and one publish helper.

SNS rejects a Subject that is not ASCII, holds a line break or control character, does not begin
with a letter, digit or punctuation, or is 100 characters or longer; the original put an emoji and
the free-text incident id in it, so some notices were never sent.
"""

from __future__ import annotations

import re
import string

from opsfn.core.access import allow, arn
from opsfn.services import aws
from opsfn.services.settings import SharedSettings

ACCESS = (allow("sns:Publish", on=arn("ALERT_TOPIC_ARN")),)
"""What :func:`publish` to the alert topic needs: list it in the ``access=`` of a route that
alerts."""

SUBJECT_MAX = 99
MESSAGE_MAX = 200_000  # SNS allows 256 KiB; leave room for the framing text
_PRINTABLE = frozenset(string.printable) - set("\t\n\r\x0b\x0c")
_SPACES = re.compile(r"\s+")


def clean_subject(text: str, fallback: str = "Notice") -> str:
    """``text`` as a valid SNS subject: printable ASCII on one line, under 100 characters."""
    flat = _SPACES.sub(" ", "".join(ch if ch in _PRINTABLE else " " for ch in
                                    _SPACES.sub(" ", text))).strip()
    if not flat or not (flat[0].isalnum() or flat[0] in string.punctuation):
        flat = f"{fallback}: {flat}".strip().rstrip(":")
    if len(flat) > SUBJECT_MAX:
        flat = flat[: SUBJECT_MAX - 3].rstrip() + "..."
    return flat


def clean_message(text: str) -> str:
    """A message body within SNS limits (control characters other than newlines removed)."""
    kept = "".join(ch for ch in text if ch in "\n\t" or ch.isprintable())
    return kept if len(kept) <= MESSAGE_MAX else kept[: MESSAGE_MAX - 15] + "\n[truncated]"


def publish(subject: str, message: str, attributes: dict[str, str] | None = None,
            topic_arn: str | None = None) -> str:
    """Publish to ALERT_TOPIC_ARN (or ``topic_arn``); returns the SNS message id."""
    topic = topic_arn or SharedSettings.current().required("ALERT_TOPIC_ARN")
    reply = aws.client("sns").publish(
        TopicArn=topic,
        Subject=clean_subject(subject),
        Message=clean_message(message),
        MessageAttributes={name: {"DataType": "String", "StringValue": value[:256]}
                           for name, value in (attributes or {}).items() if value},
    )
    return str(reply["MessageId"])
