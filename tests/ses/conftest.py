"""Fixtures of the ses tests: an app with only the ses routes; for the relay, the inbound bucket,
the lock table and a verified SES sender in moto, real MIME messages, and what SES sent."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from email.policy import SMTP
from typing import Any

import pytest

from opsfn.core.app import App
from opsfn.routes import ses
from opsfn.services import aws
from opsfn.testing import ACCOUNT, REGION, Client
from tests.tables import create_table

BUCKET = "clinic-inbound-mail"
PREFIX = "inbound/"
IDEMPOTENCY = "relay-idempotency"
FORWARD_FROM = "relay@clinic.example"
FORWARD_TO = "frontdesk@practice.example"
PATIENT = "Jane Patient"
PATIENT_ADDRESS = "jane.patient@mail.example.net"
SUBJECT = "Lab results for Jane Patient, März"

# What SES puts above a received message before storing it (trace and verdict headers).
SES_TRACE = (
    b"Return-Path: <jane.patient@mail.example.net>\r\n"
    b"Received: from mail.example.net (mail.example.net [203.0.113.7])\r\n"
    b" by inbound-smtp.us-east-1.amazonaws.com with SMTP id abcdefghij0123456789\r\n"
    b" for inbox@clinic.example; Thu, 01 Jan 2026 00:00:00 +0000 (UTC)\r\n"
    b"X-SES-Spam-Verdict: PASS\r\n"
    b"X-SES-Virus-Verdict: PASS\r\n"
    b"Received-SPF: pass (spfCheck: domain of mail.example.net designates 203.0.113.7)\r\n"
    b"Authentication-Results: amazonses.com; spf=pass; dkim=pass header.i=@mail.example.net\r\n"
    b"X-SES-RECEIPT: AEFBQUFBQUFBQUFHZ2xOb0ZCbnVzUT09\r\n"
    b"X-SES-DKIM-SIGNATURE: a=rsa-sha256; q=dns/txt; b=abc; c=relaxed/simple; d=amazonses.com\r\n"
    b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=mail.example.net; s=s1;\r\n"
    b"\th=from:to:subject:date; bh=AAAA; b=BBBB\r\n"
)


@pytest.fixture
def client() -> Client:
    """A test client over the ses routes only (the same Lambda path as lambda_handler)."""
    return Client(App([ses.router]))


def stored(message: EmailMessage) -> bytes:
    """A message as SES stores it: SMTP line endings, trace headers prepended."""
    return SES_TRACE + message.as_bytes(policy=SMTP)


def _base(subject: str = SUBJECT) -> EmailMessage:
    message = EmailMessage()
    message["From"] = f"{PATIENT} <{PATIENT_ADDRESS}>"
    message["To"] = "Clinic <inbox@clinic.example>"
    message["Cc"] = "carer@mail.example.net"
    message["Subject"] = subject
    message["Date"] = "Thu, 01 Jan 2026 00:00:00 +0000"
    message["Message-ID"] = "<original-0001@mail.example.net>"
    return message


def multipart_with_attachment() -> tuple[bytes, bytes]:
    """A text and HTML message with a PDF attached; returns (stored bytes, the PDF)."""
    pdf = b"%PDF-1.4\n" + os.urandom(20_000) + b"\n%%EOF\n"
    message = _base()
    message.set_content("Dear clinic,\n\nplease find my results attached.\n")
    message.add_alternative("<p>Dear clinic,</p><p>please find my results attached.</p>",
                            subtype="html")
    message.add_attachment(pdf, maintype="application", subtype="pdf",
                           filename="results-jane-patient.pdf")
    return stored(message), pdf


def plain_text() -> bytes:
    """A single-part text message (quoted-printable), the kind the old relay mangled."""
    message = _base()
    message.set_content("Appointment on Monday at 9:00.\nDate of birth: 1970-01-01\n" + "=" * 3,
                        cte="quoted-printable")
    return stored(message)


EIGHT_BIT_BODY = "Grüße aus der Praxis — Befund: unauffällig. ½ Tablette täglich.\r\n".encode()


def eight_bit() -> bytes:
    """Raw bytes: an 8-bit UTF-8 body, written by hand as an MTA would pass it on."""
    return SES_TRACE + (
        b"From: =?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <juergen@mail.example.net>\r\n"
        b"To: inbox@clinic.example\r\n"
        b"Subject: =?utf-8?q?R=C3=BCckfrage_zum_Befund?=\r\n"
        b"Date: Thu, 01 Jan 2026 00:00:00 +0000\r\n"
        b"Message-ID: <8bit-0001@mail.example.net>\r\n"
        b"MIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n"
        b"\r\n" + EIGHT_BIT_BODY * 3)


def oversized() -> bytes:
    """A message whose attachment makes it larger than SendRawEmail's 10 MB (base64)."""
    message = _base("A large scan")
    message.set_content("Scan attached.\n")
    message.add_attachment(os.urandom(8 * 1024 * 1024), maintype="application",
                           subtype="octet-stream", filename="scan.bin")
    return stored(message)


@pytest.fixture
def relay_env(moto_aws: None, monkeypatch: pytest.MonkeyPatch,
              secret: Callable[[str], str]) -> dict[str, str]:
    """Bucket, idempotency table and the verified sending identity, named by the relay's settings.

    The patient's address and the subject are registered with the session's leak check too.
    """
    for value in (PATIENT_ADDRESS, SUBJECT, FORWARD_TO, PATIENT):
        secret(value)
    aws.client("s3").create_bucket(Bucket=BUCKET)
    create_table(IDEMPOTENCY, "id", "expiration")
    aws.client("ses").verify_domain_identity(Domain="clinic.example")
    env = {"SES_INBOUND_BUCKET": BUCKET, "SES_INBOUND_PREFIX": PREFIX, "IDEMPOTENCY_TABLE": IDEMPOTENCY,
           "SES_FORWARD_FROM": FORWARD_FROM, "SES_FORWARD_TO": FORWARD_TO}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def store() -> Callable[[str, bytes], None]:
    """Put a message where the receipt rule's S3 action would have written it."""
    def put(message_id: str, data: bytes) -> None:
        aws.client("s3").put_object(Bucket=BUCKET, Key=PREFIX + message_id, Body=data)

    return put


@pytest.fixture
def sent() -> Iterator[Callable[[], list[Any]]]:
    """The messages moto's SES accepted through SendRawEmail (source, destinations, raw data)."""
    from moto.ses.models import ses_backends

    def messages() -> list[Any]:
        return list(ses_backends[ACCOUNT][REGION].sent_messages)

    yield messages


def head_and_body(data: bytes) -> tuple[bytes, bytes]:
    """The header block and everything from the blank line on."""
    cut = data.index(b"\r\n\r\n")
    return data[:cut + 2], data[cut + 2:]


def header_lines(head: bytes) -> list[bytes]:
    """Header fields with their folded lines, in order."""
    fields: list[bytes] = []
    for line in head.split(b"\r\n"):
        if not line:
            continue
        if line[:1] in (b" ", b"\t"):
            fields[-1] += b"\r\n" + line
        else:
            fields.append(line)
    return fields


def issued_keys() -> dict[str, str]:
    """Every access key IAM hands out from now on: id -> secret, read from the CreateAccessKey
    replies (the secret is never readable afterwards)."""
    keys: dict[str, str] = {}

    def capture(parsed: dict[str, Any], **_: Any) -> None:
        key = parsed.get("AccessKey")
        if key:
            keys[key["AccessKeyId"]] = key["SecretAccessKey"]

    aws.client("iam").meta.events.register("after-call.iam.CreateAccessKey", capture)
    return keys
