"""The header rewrite on its own: bytes in, bytes out, on real MIME messages and on raw bytes."""

from __future__ import annotations

import email
from email.policy import default

import pytest

from opsfn.errors import InvalidContent
from opsfn.routes.ses.relay_mime import (
    encoded_size,
    is_address_list,
    rewrite,
    sender_header,
    split_message,
)
from tests.ses.conftest import (
    FORWARD_FROM,
    PATIENT_ADDRESS,
    eight_bit,
    head_and_body,
    header_lines,
    multipart_with_attachment,
    plain_text,
)

GONE = (b"return-path", b"dkim-signature", b"message-id", b"sender", b"delivered-to", b"bcc")


def _names(lines: list[bytes]) -> list[bytes]:
    return [line.split(b":", 1)[0].lower() for line in lines]


@pytest.mark.parametrize("build", [lambda: multipart_with_attachment()[0], plain_text, eight_bit],
                         ids=["multipart", "plain", "8bit"])
def test_only_the_headers_that_must_change_change(build: object) -> None:
    original: bytes = build()  # type: ignore[operator]
    result = rewrite(original, FORWARD_FROM, PATIENT_ADDRESS)
    old_head, old_body = head_and_body(original)
    new_head, new_body = head_and_body(result.data)
    assert new_body == old_body  # the body, every MIME part and byte, untouched
    old, new = header_lines(old_head), header_lines(new_head)
    old_from = next(line for line in old if line.lower().startswith(b"from:"))
    assert new[_names(new).index(b"from")] == b"From: " + FORWARD_FROM.encode()
    assert new[_names(new).index(b"reply-to")] == b"Reply-To:" + old_from[len(b"From:"):]
    untouched = [line for line in old if line.split(b":", 1)[0].lower() not in (*GONE, b"from")]
    assert [line for line in new if line.split(b":", 1)[0].lower() not in (b"from", b"reply-to")
            ] == untouched  # same bytes, same folding, same order
    assert not set(_names(new)) & set(GONE)
    # From and Reply-To take the original From's place among the fields.
    assert _names(new).index(b"from") == _names([line for line in old if
                                                  _names([line])[0] not in GONE]).index(b"from")
    assert result.reply_to == "from"


def test_the_parsed_message_keeps_subject_parts_and_attachment() -> None:
    original, pdf = multipart_with_attachment()
    forwarded = email.message_from_bytes(rewrite(original, FORWARD_FROM).data, policy=default)
    before = email.message_from_bytes(original, policy=default)
    assert forwarded["Subject"] == before["Subject"] == "Lab results for Jane Patient, März"
    assert forwarded["Reply-To"] == before["From"]
    assert [p.get_content_type() for p in forwarded.walk()] == [
        p.get_content_type() for p in before.walk()]
    (attachment,) = list(forwarded.iter_attachments())
    assert attachment.get_filename() == "results-jane-patient.pdf"
    assert attachment.get_content() == pdf


def test_the_senders_reply_to_wins_and_bad_values_fall_back() -> None:
    base = (b"From: Jane <jane@a.example>\r\nReply-To: Desk <desk@a.example>\r\n"
            b"Subject: x\r\n\r\nbody\r\n")
    result = rewrite(base, FORWARD_FROM, "bounce@b.example")
    assert b"Reply-To: Desk <desk@a.example>\r\n" in result.data and result.reply_to == "reply-to"
    broken = b"From: undisclosed\r\nSubject: x\r\n\r\nbody\r\n"
    result = rewrite(broken, FORWARD_FROM, "bounce@b.example")
    assert b"Reply-To: bounce@b.example\r\n" in result.data and result.reply_to == "envelope"
    result = rewrite(broken, FORWARD_FROM, "")
    assert b"Reply-To" not in result.data and result.reply_to == "none"


def test_lf_messages_keep_lf_and_duplicates_and_nameless_lines_go() -> None:
    raw = (b"From: a@x.example\nSubject: first\nSubject: second\nDelivered-To: a\n"
           b"Delivered-To: b\nnot a header line\nX-Keep: 1\n continued\n\n\xff\xfe raw\n")
    fields, rest = split_message(raw)
    assert [f.key for f in fields] == [b"from", b"subject", b"subject", b"delivered-to",
                                       b"delivered-to", b"x-keep"]
    assert rest == b"\n\xff\xfe raw\n"
    result = rewrite(raw, FORWARD_FROM)
    assert result.data == (b"From: relay@clinic.example\nReply-To: a@x.example\nSubject: first\n"
                           b"X-Keep: 1\n continued\n\n\xff\xfe raw\n")
    assert result.dropped == 3 and result.replaced == 1


def test_headers_only_message_gets_a_header_end() -> None:
    assert rewrite(b"From: a@x.example\r\nSubject: s", FORWARD_FROM).data == (
        b"From: relay@clinic.example\r\nReply-To: a@x.example\r\nSubject: s\r\n\r\n")


def test_a_message_without_header_is_invalid_content() -> None:
    for raw in (b"", b"\r\nbody only\r\n", b"no colon anywhere\r\n\r\nbody"):
        with pytest.raises(InvalidContent):
            rewrite(raw, FORWARD_FROM)


def test_sender_header_and_address_lists() -> None:
    assert sender_header("relay@clinic.example") == "relay@clinic.example"
    assert sender_header("Clinic Relay <relay@clinic.example>") == \
        "Clinic Relay <relay@clinic.example>"
    assert sender_header("Praxis Müller <relay@clinic.example>").startswith("=?utf-8?")
    for bad in ("", "no-at-sign", "a@b@c", "jürgen@clinic.example"):
        with pytest.raises(ValueError):
            sender_header(bad)
    assert is_address_list(b" Jane <j@x.example>, k@y.example\r\n")
    assert not is_address_list(b" undisclosed-recipients:;\r\n")
    assert not is_address_list(b" @x.example\r\n")


def test_encoded_size_is_base64_length() -> None:
    import base64

    for size in (0, 1, 2, 3, 4, 1000, 7_864_320, 7_864_321):
        assert encoded_size(size) == len(base64.b64encode(b"x" * size))
