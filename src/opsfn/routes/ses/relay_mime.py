"""A received message made forwardable through SES, bytes in and bytes out.

Only the header block is touched, and only the fields that must change: SES sends solely from a
verified identity, so ``From`` becomes ``SES_FORWARD_FROM`` and ``Reply-To`` carries the original
sender (the original ``Reply-To`` when there was one, as the sender asked for replies there).
Fields SES refuses or that would lie after forwarding go: ``Sender``, ``Return-Path``, DKIM and
DomainKey signatures (they no longer verify, and SES refuses a duplicate ``DKIM-Signature``),
``Message-ID`` (SES assigns its own and refuses duplicates), ``Delivered-To`` (repeated per hop,
which SES refuses) and ``Bcc``. A second copy of a field the format allows once is dropped too.
Every other field keeps its bytes, its folding and its place; the body (the MIME structure, every
part, the 8-bit bytes) is not parsed or re-encoded at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import formataddr, getaddresses, parseaddr

from opsfn.errors import InvalidContent

# Replaced: the new values are written where the original From was.
_REPLACED = frozenset({b"from", b"reply-to"})
_DROPPED = frozenset({b"sender", b"return-path", b"dkim-signature", b"domainkey-signature",
                      b"message-id", b"delivered-to", b"bcc"})
# Fields a message may carry once (RFC 5322 3.6, RFC 2045); SES refuses duplicates.
_SINGLE = frozenset({b"date", b"to", b"cc", b"subject", b"in-reply-to", b"references",
                     b"mime-version", b"content-type", b"content-transfer-encoding"})


@dataclass(frozen=True, slots=True)
class HeaderField:
    """One header field exactly as received: the name, and every line of it with line endings."""

    name: bytes
    raw: bytes

    @property
    def key(self) -> bytes:
        """The name, lowercased, for comparisons."""
        return self.name.strip().lower()

    @property
    def value(self) -> bytes:
        """Everything after the colon (leading space, folding and line ending kept)."""
        return self.raw[len(self.name) + 1:]


@dataclass(frozen=True, slots=True)
class Forwarded:
    """The message to send, and what the rewrite did (counts only: never a value)."""

    data: bytes
    replaced: int
    dropped: int
    reply_to: str  # "reply-to", "from", "envelope" or "none": where Reply-To came from


def encoded_size(size: int) -> int:
    """Bytes of ``size`` bytes in base64, the size SES's message limit is measured in."""
    return 4 * ((size + 2) // 3)


def split_message(raw: bytes) -> tuple[list[HeaderField], bytes]:
    """The header fields and the rest (the blank line and the body, untouched).

    A line without a field name in the header block is kept out (SES refuses empty header
    names); continuation lines stay with their field.
    """
    fields: list[HeaderField] = []
    pos, size = 0, len(raw)
    while pos < size:
        end = raw.find(b"\n", pos)
        line_end = size if end == -1 else end + 1
        line = raw[pos:line_end]
        if line in (b"\r\n", b"\n"):
            return fields, raw[pos:]
        if line[:1] in (b" ", b"\t"):
            if fields:
                last = fields[-1]
                fields[-1] = HeaderField(last.name, last.raw + line)
        else:
            colon = line.find(b":")
            if colon > 0 and line[:colon].strip():
                fields.append(HeaderField(line[:colon], line))
        pos = line_end
    return fields, b""


def _line_ending(fields: list[HeaderField]) -> bytes:
    first = fields[0].raw if fields else b""
    return b"\r\n" if first.endswith(b"\r\n") or b"\r\n" in first else b"\n"


def _ended(raw: bytes, eol: bytes) -> bytes:
    return raw if raw.endswith(b"\n") else raw + eol


def is_address_list(value: bytes) -> bool:
    """Whether a header value is a list of addresses SES can parse (each with a domain)."""
    text = value.decode("utf-8", "surrogateescape").replace("\r", " ").replace("\n", " ").strip()
    if not text or "\x00" in text:
        return False
    parsed = getaddresses([text])
    return bool(parsed) and all(address.count("@") == 1 and not address.startswith("@")
                                and not address.endswith("@") for _, address in parsed)


def sender_header(value: str) -> str:
    """``SES_FORWARD_FROM`` as a From value: a display name RFC 2047-encoded when not ASCII."""
    name, address = parseaddr(value)
    if not address or address.count("@") != 1 or not address.isascii():
        raise ValueError("not an address")
    return formataddr((name, address), charset="utf-8") if name else address


def rewrite(raw: bytes, forward_from: str, envelope_sender: str = "") -> Forwarded:
    """The message ready for SendRawEmail from ``forward_from`` (an ASCII From value)."""
    fields, rest = split_message(raw)
    if not fields:
        raise InvalidContent("the stored message has no header")
    eol = _line_ending(fields)
    kept: list[bytes] = []
    seen: set[bytes] = set()
    original: dict[bytes, bytes] = {}
    insert_at: int | None = None
    dropped = replaced = 0
    for field in fields:
        key = field.key
        if key in _REPLACED:
            original.setdefault(key, field.value)
            if key == b"from" and insert_at is None:
                insert_at = len(kept)
            replaced += 1
            continue
        if key in _DROPPED or (key in _SINGLE and key in seen):
            dropped += 1
            continue
        seen.add(key)
        kept.append(_ended(field.raw, eol))
    reply_value, source = _reply_to(original, envelope_sender, eol)
    new = [b"From: " + forward_from.encode("ascii") + eol]
    if reply_value is not None:
        new.append(b"Reply-To:" + _ended(reply_value, eol))
    at = len(kept) if insert_at is None else insert_at
    head = b"".join(kept[:at] + new + kept[at:])
    return Forwarded(head + (rest or eol), replaced, dropped, source)


def _reply_to(original: dict[bytes, bytes], envelope_sender: str, eol: bytes
              ) -> tuple[bytes | None, str]:
    """Where replies go: the sender's Reply-To, else its From, else the envelope sender."""
    for key, label in ((b"reply-to", "reply-to"), (b"from", "from")):
        value = original.get(key)
        if value is not None and is_address_list(value):
            return value, label
    if envelope_sender and envelope_sender.isascii() and is_address_list(envelope_sender.encode()):
        return b" " + envelope_sender.encode("ascii") + eol, "envelope"
    return None, "none"
