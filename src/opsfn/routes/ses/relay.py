"""The inbound mail relay: the stack's ``send_email``, without mangling the mail.

The active receipt rule stores each message in ``SES_INBOUND_BUCKET`` under ``SES_INBOUND_PREFIX``
+ its message id (an S3 action), then invokes this function (a Lambda action, an ``aws:ses``
event). The route reads the stored bytes, rewrites only the headers SES needs changed
(:mod:`relay_mime`) and sends them with SendRawEmail from ``SES_FORWARD_FROM`` to ``SES_FORWARD_TO``.

A message whose receipt verdicts include a ``FAIL`` of a check named in
``SES_RELAY_BLOCK_VERDICTS`` is not forwarded and is counted (``MailBlocked``, per verdict). A
message too large for SendRawEmail (10 MB base64-encoded) fails with ``PayloadTooLarge`` and is
counted (``MailTooLarge``). Each message id is handled once (:func:`_once`, on the shared
idempotency helper: a delivery that dies mid-way leaves a marker that ends with its invocation,
so the retry forwards). Addresses and
subjects never reach a log line, a metric or the reply: the reply names the message id, the
outcome, sizes and counts only.
"""

from __future__ import annotations

import re
from email.utils import parseaddr
from typing import Any

from opsfn import Context, Router
from opsfn.access import allow, arn_pattern, objects
from opsfn.errors import InvalidContent, InvalidSetting, NotFound, PayloadTooLarge, ValidationFailed
from opsfn.events.ses import VERDICTS, SesMessage
from opsfn.routes.ses import relay_metrics
from opsfn.routes.ses.relay_mime import encoded_size, rewrite, sender_header
from opsfn.routes.ses.relay_settings import RelaySettings
from opsfn.services import aws, idempotency

router = Router()

DEDUP_PREFIX = "ses-relay"  # IDEMPOTENCY_TABLE key: ses-relay:<message id>
MAX_RECIPIENTS = 50  # SES: To, Cc and Bcc together, per message
# Below this many bytes over the limit, dropping header fields could still bring a message in.
READ_SLACK = 1024 * 1024
_MESSAGE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_CLIENT_SIDE_KEYS = ("x-amz-key-v2", "x-amz-key")  # an S3 action with KmsKeyArn encrypts this way


def forward_addresses(value: str) -> list[str]:
    """``SES_FORWARD_TO`` as bare addresses; InvalidSetting when one is not an address."""
    addresses = []
    for part in value.split(","):
        if not part.strip():
            continue
        _, address = parseaddr(part)
        if address.count("@") != 1 or not address.isascii() or address.startswith("@") \
                or address.endswith("@"):
            raise InvalidSetting(["SES_FORWARD_TO"])
        addresses.append(address)
    if not addresses or len(addresses) > MAX_RECIPIENTS:
        raise InvalidSetting(["SES_FORWARD_TO"])
    return addresses


def blocking_verdicts(value: str) -> frozenset[str]:
    """``SES_RELAY_BLOCK_VERDICTS`` as check names; InvalidSetting for an unknown one."""
    names = frozenset(part.strip().lower() for part in value.split(",") if part.strip())
    if not names <= set(VERDICTS):
        raise InvalidSetting(["SES_RELAY_BLOCK_VERDICTS"])
    return names


class _Plan:
    """What one message is checked against and sent with, read from the settings once."""

    def __init__(self) -> None:
        settings = RelaySettings.current()
        self.bucket = settings.required("SES_INBOUND_BUCKET")
        self.prefix = settings.inbound_prefix
        self.recipients = forward_addresses(settings.required("SES_FORWARD_TO"))
        try:
            self.from_header = sender_header(settings.required("SES_FORWARD_FROM"))
        except ValueError:
            raise InvalidSetting(["SES_FORWARD_FROM"]) from None
        self.source = parseaddr(self.from_header)[1]
        self.blocking = blocking_verdicts(settings.block_verdicts)
        self.limit = settings.max_encoded_bytes
        self.remember_s = settings.dedup_days * 86400


def _too_large(size: int) -> str:
    relay_metrics.count(relay_metrics.TOO_LARGE)
    return f"too_large:{size}"


def _read_stored(plan: _Plan, message_id: str) -> bytes | str:
    """The stored message, or the outcome label when it is too large to read at all."""
    s3 = aws.client("s3")
    try:
        reply = s3.get_object(Bucket=plan.bucket, Key=plan.prefix + message_id)
    except s3.exceptions.NoSuchKey:
        raise NotFound("the stored message is missing: the receipt rule's S3 action must come "
                       "before its Lambda action and write under SES_INBOUND_PREFIX") from None
    body = reply["Body"]
    try:
        metadata = {key.lower() for key in reply.get("Metadata", {})}
        if metadata & set(_CLIENT_SIDE_KEYS):
            raise InvalidContent("the stored message is client-side encrypted (the S3 action has "
                                 "a KmsKeyArn); use the bucket's default encryption instead")
        size = int(reply.get("ContentLength", 0))
        if encoded_size(size) > plan.limit + READ_SLACK:
            return _too_large(size)
        return body.read()
    finally:
        body.close()


def _forward(plan: _Plan, message: SesMessage, context: Context) -> str:
    """Check, read, rewrite and send one message; returns the outcome label to remember."""
    failed = message.failed(plan.blocking)
    if failed:
        for verdict in failed:
            relay_metrics.count(relay_metrics.BLOCKED, verdict)
        return "blocked:" + ",".join(failed)
    stored = _read_stored(plan, message.message_id)
    if isinstance(stored, str):
        return stored
    forwarded = rewrite(stored, plan.from_header, message.source)
    if encoded_size(len(forwarded.data)) > plan.limit:
        return _too_large(len(forwarded.data))
    sent = aws.client("ses").send_raw_email(Source=plan.source, Destinations=plan.recipients,
                                            RawMessage={"Data": forwarded.data})
    relay_metrics.count(relay_metrics.FORWARDED)
    context.logger.info("inbound mail forwarded", extra={
        "message_id": message.message_id, "bytes": len(forwarded.data),
        "headers_replaced": forwarded.replaced, "headers_dropped": forwarded.dropped,
        "reply_to_from": forwarded.reply_to, "recipients": len(plan.recipients)})
    return f"forwarded:{sent['MessageId']}"


def _reply(message_id: str, outcome: str, repeated: bool, plan: _Plan, context: Context
           ) -> dict[str, Any]:
    kind, _, detail = outcome.partition(":")
    reply: dict[str, Any] = {"message_id": message_id, "outcome": kind, "duplicate": repeated}
    if kind == "forwarded":
        reply.update(ses_message_id=detail, recipients=len(plan.recipients))
    elif kind == "blocked":
        reply["blocked_by"] = detail.split(",")
    elif kind == "too_large":
        size = int(detail or 0)
        context.logger.warning("inbound mail too large to forward", extra={
            "message_id": message_id, "bytes": size, "encoded_bytes": encoded_size(size),
            "limit": plan.limit, "duplicate": repeated})
        raise PayloadTooLarge(
            f"message {message_id} is {encoded_size(size)} bytes base64-encoded, above the "
            f"{plan.limit}-byte limit of SES SendRawEmail: not forwarded (it stays in the bucket)")
    return reply


@router.ses(access=[
    *idempotency.ACCESS,
    allow("s3:GetObject", on=objects("SES_INBOUND_BUCKET", "{SES_INBOUND_PREFIX}"),
          name="ReadReceivedMail"),
    allow("ses:SendRawEmail", name="SendOnlyAsTheForwardingIdentity",
          on=[arn_pattern("arn:{partition}:ses:{region}:{account}:identity/{SES_FORWARD_FROM}"),
              arn_pattern("arn:{partition}:ses:{region}:{account}:identity/"
                          "{SES_FORWARD_FROM|domain}")],
          when={"StringEquals": {"ses:FromAddress": "{SES_FORWARD_FROM}"}},
          why="the address, or its domain, whichever identity SES verified"),
])
def relay_inbound_mail(message: SesMessage, context: Context) -> dict[str, Any]:
    """Forward one received message (once), unless a blocking verdict failed or it is too large."""
    if not _MESSAGE_ID.fullmatch(message.message_id):
        raise ValidationFailed("SES message id is not one SES issues", details=[{
            "loc": "ses.mail.messageId", "msg": "letters, digits, '.', '_' and '-' only",
            "type": "value_error"}])
    plan = _Plan()
    done = idempotency.run_once(
        f"{DEDUP_PREFIX}:{message.message_id}",
        lambda: {"outcome": _forward(plan, message, context)},
        in_flight_s=idempotency.in_flight_seconds(context), done_s=plan.remember_s,
        busy_message="another delivery of this message is being handled")
    outcome, repeated = str(done.result["outcome"]), done.replayed
    if repeated or outcome.startswith("blocked:"):
        context.logger.info("inbound mail not forwarded", extra={
            "message_id": message.message_id, "outcome": outcome.partition(":")[0],
            "duplicate": repeated})
    return _reply(message.message_id, outcome, repeated, plan, context)
