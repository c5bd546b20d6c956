"""The events AWS hands the function, built from what the local emulator delivers.

moto puts S3 notifications and SNS messages into local SQS queues; these functions turn them into
the events Lambda receives from each source: a direct S3 notification, S3's event through an
EventBridge rule, an SNS record, an SQS batch (pure functions, no I/O).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

from opsfn.tooling.local.template_eval import ACCOUNT

# S3 notification event names and the EventBridge ``reason`` S3 writes for them.
_REASONS = {"Put": "PutObject", "Post": "POST Object", "Copy": "CopyObject",
            "CompleteMultipartUpload": "CompleteMultipartUpload", "Delete": "DeleteObject",
            "DeleteMarkerCreated": "DeleteObject"}
_DETAIL_TYPES = {"ObjectCreated": "Object Created", "ObjectRemoved": "Object Deleted",
                 "ObjectRestore": "Object Restore Completed", "ObjectTagging": "Object Tags Added"}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def s3_direct_event(record: dict[str, Any]) -> dict[str, Any]:
    """A bucket notification's Lambda event: the record with every field S3 sends."""
    full = {"userIdentity": {"principalId": "AWS:LOCAL"},
            "requestParameters": {"sourceIPAddress": "127.0.0.1"},
            "responseElements": {"x-amz-request-id": uuid.uuid4().hex[:16].upper(),
                                 "x-amz-id-2": "local"}, **record}
    s3 = dict(full.get("s3") or {})
    s3["object"] = {"sequencer": f"{uuid.uuid4().int % 16**18:018X}", **(s3.get("object") or {})}
    s3["bucket"] = {"ownerIdentity": {"principalId": "LOCAL"}, **(s3.get("bucket") or {})}
    full["s3"] = s3
    return {"Records": [full]}


def s3_eventbridge_event(record: dict[str, Any], region: str) -> dict[str, Any]:
    """The event S3 sends through EventBridge for the object of a notification record (the key
    not URL-encoded, ``etag`` in lower case, ``reason`` the API call)."""
    s3 = record.get("s3") or {}
    obj = s3.get("object") or {}
    bucket = str((s3.get("bucket") or {}).get("name", ""))
    family, _, action = str(record.get("eventName", "ObjectCreated:Put")).partition(":")
    return {
        "version": "0", "id": str(uuid.uuid4()),
        "detail-type": _DETAIL_TYPES.get(family, family), "source": "aws.s3",
        "account": ACCOUNT, "time": _now(), "region": region,
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {
            "version": "0", "bucket": {"name": bucket},
            "object": {"key": unquote_plus(str(obj.get("key", ""))), "size": obj.get("size", 0),
                       "etag": obj.get("eTag", ""),
                       "sequencer": obj.get("sequencer") or f"{uuid.uuid4().int % 16**18:018X}"},
            "request-id": uuid.uuid4().hex[:16].upper(), "requester": ACCOUNT,
            "source-ip-address": "127.0.0.1", "reason": _REASONS.get(action, action),
        },
    }


def sns_lambda_event(notification: dict[str, Any], subscription_arn: str) -> dict[str, Any]:
    """The Lambda event of one SNS message (as SNS put it in an SQS body: ``SigningCertURL``
    there, ``SigningCertUrl`` in the Lambda record)."""
    sns = {
        "Type": notification.get("Type", "Notification"),
        "MessageId": notification.get("MessageId"),
        "TopicArn": notification.get("TopicArn"),
        "Subject": notification.get("Subject"),
        "Message": notification.get("Message"),
        "Timestamp": notification.get("Timestamp"),
        "SignatureVersion": notification.get("SignatureVersion", "1"),
        "Signature": notification.get("Signature", "LOCAL"),
        "SigningCertUrl": notification.get("SigningCertURL", notification.get("SigningCertUrl")),
        "UnsubscribeUrl": notification.get("UnsubscribeURL", notification.get("UnsubscribeUrl")),
        "MessageAttributes": notification.get("MessageAttributes") or {},
    }
    return {"Records": [{"EventSource": "aws:sns", "EventVersion": "1.0",
                         "EventSubscriptionArn": subscription_arn, "Sns": sns}]}


def _attribute(value: dict[str, Any]) -> dict[str, Any]:
    """An SQS message attribute as Lambda's SQS event spells it."""
    return {"stringValue": value.get("StringValue"), "binaryValue": value.get("BinaryValue"),
            "stringListValues": list(value.get("StringListValues") or []),
            "binaryListValues": list(value.get("BinaryListValues") or []),
            "dataType": value.get("DataType", "String")}


def sqs_lambda_event(messages: list[dict[str, Any]], queue_arn: str, region: str
                     ) -> dict[str, Any]:
    """The Lambda event of a batch SQS ReceiveMessage returned."""
    return {"Records": [{
        "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
        "attributes": m.get("Attributes") or {},
        "messageAttributes": {name: _attribute(value) for name, value in
                              (m.get("MessageAttributes") or {}).items()},
        "md5OfBody": m.get("MD5OfBody", ""), "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn, "awsRegion": region,
    } for m in messages]}


def merge_batch(batch: list[dict[str, Any]], more: list[dict[str, Any]]
                ) -> list[dict[str, Any]]:
    """``batch`` with the messages of ``more``: a message received again is there once, with its
    latest receipt handle (the only one that deletes it)."""
    merged = {message["MessageId"]: message for message in batch}
    for message in more:
        merged[message["MessageId"]] = message
    return list(merged.values())


def failed_ids(ok: bool, result: Any, messages: list[dict[str, Any]], partial: bool) -> set[str]:
    """The messages of a batch that stay on the queue, as Lambda's event source mapping decides:
    all of them when the invocation failed; with ``ReportBatchItemFailures`` the ones the reply
    names (an empty or unknown identifier fails the whole batch); otherwise none."""
    every = {m["MessageId"] for m in messages}
    if not ok:
        return every
    if not partial or not isinstance(result, dict):
        return set()
    items = result.get("batchItemFailures") or []
    named = {item.get("itemIdentifier") for item in items if isinstance(item, dict)}
    if any(not isinstance(n, str) or n not in every for n in named):
        return every
    return {n for n in named if isinstance(n, str)}
