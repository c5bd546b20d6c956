"""SES receipt events: the Lambda action of a receipt rule, one :class:`SesMessage` per record.

SES invokes the function with ``Records[i]`` whose ``eventSource`` is ``aws:ses`` and whose ``ses``
object holds the ``mail`` (message id, envelope sender, headers) and the ``receipt`` (recipients,
spam/virus/SPF/DKIM/DMARC verdicts, the action). The message itself is not in the event: an earlier
S3 action of the same rule stores it under the rule's prefix plus the message id.

Addresses and subjects are patient data here: the envelope keeps the addresses out of its ``repr``
and does not carry the subject or the headers at all (a route reads the stored message instead).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from opsfn.errors import ValidationFailed
from opsfn.events.envelope import Envelope

VERDICTS: Final[tuple[str, ...]] = ("spam", "virus", "spf", "dkim", "dmarc")


@dataclass(slots=True, unsafe_hash=True)
class SesMessage(Envelope):
    """One message an SES receipt rule handed to the function.

    ``verdicts`` maps each of :data:`VERDICTS` that SES reported to its status (``PASS``,
    ``FAIL``, ``GRAY``, ``PROCESSING_FAILED``, ``DISABLED``), as ``(name, status)`` pairs.
    """

    message_id: str
    timestamp: str | None = None
    verdicts: tuple[tuple[str, str], ...] = ()
    dmarc_policy: str | None = None
    action_type: str | None = None
    invocation_type: str | None = None
    headers_truncated: bool = False
    source: str = field(default="", repr=False)  # the envelope sender: an address
    recipients: tuple[str, ...] = field(default=(), repr=False)

    def verdict(self, name: str) -> str | None:
        """The status SES gave for ``name`` (``spam``, ``virus``, ...), or None if absent."""
        for kind, status in self.verdicts:
            if kind == name:
                return status
        return None

    def failed(self, names: tuple[str, ...] | frozenset[str]) -> list[str]:
        """Which of ``names`` SES marked ``FAIL``, in :data:`VERDICTS` order."""
        return [kind for kind, status in self.verdicts if status == "FAIL" and kind in names]


def _bad(loc: str) -> ValidationFailed:
    return ValidationFailed("SES event record is malformed", details=[
        {"loc": loc, "msg": "missing or wrong type", "type": "ses_record"}])


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(item for item in value if isinstance(item, str)) if isinstance(value, list) else ()


def _verdicts(receipt: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    found = []
    for name in VERDICTS:
        verdict = receipt.get(f"{name}Verdict")
        status = verdict.get("status") if isinstance(verdict, dict) else None
        if isinstance(status, str) and status:
            found.append((name, status[:32]))
    return tuple(found)


def parse_record(record: Any) -> SesMessage:
    """One ``Records[i]`` of an SES event; ValidationFailed names the field that is wrong."""
    if not isinstance(record, dict):
        raise _bad("record")
    ses = record.get("ses")
    if not isinstance(ses, dict):
        raise _bad("record.ses")
    mail = ses.get("mail")
    if not isinstance(mail, dict):
        raise _bad("record.ses.mail")
    message_id = mail.get("messageId")
    if not isinstance(message_id, str) or not message_id:
        raise _bad("record.ses.mail.messageId")
    receipt = ses.get("receipt")
    receipt = receipt if isinstance(receipt, dict) else {}
    action = receipt.get("action")
    action = action if isinstance(action, dict) else {}
    return SesMessage(
        message_id=message_id,
        timestamp=_str(mail.get("timestamp")),
        verdicts=_verdicts(receipt),
        dmarc_policy=_str(receipt.get("dmarcPolicy")),
        action_type=_str(action.get("type")),
        invocation_type=_str(action.get("invocationType")),
        headers_truncated=mail.get("headersTruncated") is True,
        source=_str(mail.get("source")) or "",
        recipients=_strings(receipt.get("recipients")),
    )


_KEPT_MAIL = ("messageId", "timestamp", "headersTruncated")
_KEPT_RECEIPT = ("timestamp", "processingTimeMillis", "dmarcPolicy", "action",
                 *(f"{name}Verdict" for name in VERDICTS))


def redrivable(event: Any) -> Any:
    """The event as the failed-events queue may keep it: what a redrive needs (each record's
    message id, verdicts and action; the message itself is in the bucket), without the headers,
    the subject or any address."""
    if not isinstance(event, dict) or not isinstance(event.get("Records"), list):
        return {}
    kept = []
    for record in event["Records"]:
        ses = record.get("ses") if isinstance(record, dict) else None
        mail = ses.get("mail") if isinstance(ses, dict) else None
        receipt = ses.get("receipt") if isinstance(ses, dict) else None
        mail = mail if isinstance(mail, dict) else {}
        receipt = receipt if isinstance(receipt, dict) else {}
        kept.append({
            "eventSource": record.get("eventSource") if isinstance(record, dict) else None,
            "eventVersion": record.get("eventVersion") if isinstance(record, dict) else None,
            "ses": {"mail": {k: mail[k] for k in _KEPT_MAIL if k in mail},
                    "receipt": {k: receipt[k] for k in _KEPT_RECEIPT if k in receipt}}})
    return {"Records": kept}
