"""S3 object events in every wrapping, normalised to one :class:`S3Object` per object.

S3 reaches a function directly (notification records), through EventBridge (``aws.s3`` events),
inside SQS message bodies, inside SNS messages, and inside SNS envelopes inside SQS bodies. Keys
in notifications are URL-encoded with ``+`` for spaces; EventBridge keys are not encoded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from opsfn.errors import ValidationFailed
from opsfn.events.envelope import Envelope

# EventBridge names the API call; notifications name the event. Map one onto the other.
_EVENTBRIDGE_REASONS = {
    "PutObject": "ObjectCreated:Put",
    "POST Object": "ObjectCreated:Post",
    "CopyObject": "ObjectCreated:Copy",
    "CompleteMultipartUpload": "ObjectCreated:CompleteMultipartUpload",
    "DeleteObject": "ObjectRemoved:Delete",
    "Lifecycle Expiration": "LifecycleExpiration:Delete",
}
_EVENTBRIDGE_TYPES = {
    "Object Created": "ObjectCreated:*",
    "Object Deleted": "ObjectRemoved:*",
    "Object Restore Completed": "ObjectRestore:Completed",
}


@dataclass(slots=True, unsafe_hash=True)
class S3Object(Envelope):
    """One object an S3 event is about. ``via`` says how the event travelled."""

    bucket: str
    key: str
    event_name: str
    size: int | None = None
    etag: str | None = None
    version_id: str | None = None
    sequencer: str | None = None
    event_time: str | None = None
    via: str = "s3"


def _bad(loc: str) -> ValidationFailed:
    return ValidationFailed(
        "S3 event record is malformed", details=[{"loc": loc, "msg": "missing or wrong type",
                                                  "type": "s3_record"}]
    )


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def from_notification_record(record: Any, via: str = "s3") -> S3Object:
    """One record of an S3 notification (``Records[i]`` with ``eventSource`` ``aws:s3``)."""
    if not isinstance(record, dict):
        raise _bad("record")
    s3 = record.get("s3")
    if not isinstance(s3, dict):
        raise _bad("record.s3")
    bucket = s3.get("bucket")
    obj = s3.get("object")
    name = bucket.get("name") if isinstance(bucket, dict) else None
    key = obj.get("key") if isinstance(obj, dict) else None
    if not isinstance(name, str) or not name:
        raise _bad("record.s3.bucket.name")
    if not isinstance(key, str) or not key:
        raise _bad("record.s3.object.key")
    obj = obj if isinstance(obj, dict) else {}
    event_name = _str(record.get("eventName")) or "ObjectCreated:*"
    return S3Object(
        bucket=name,
        key=unquote_plus(key),
        event_name=event_name,
        size=_int(obj.get("size")),
        etag=_str(obj.get("eTag")),
        version_id=_str(obj.get("versionId")),
        sequencer=_str(obj.get("sequencer")),
        event_time=_str(record.get("eventTime")),
        via=via,
    )


def from_eventbridge(event: dict[str, Any], via: str = "eventbridge") -> S3Object:
    """An ``aws.s3`` EventBridge event (keys arrive decoded)."""
    detail = event.get("detail")
    if not isinstance(detail, dict):
        raise _bad("detail")
    bucket = detail.get("bucket")
    obj = detail.get("object")
    name = bucket.get("name") if isinstance(bucket, dict) else None
    key = obj.get("key") if isinstance(obj, dict) else None
    if not isinstance(name, str) or not name:
        raise _bad("detail.bucket.name")
    if not isinstance(key, str) or not key:
        raise _bad("detail.object.key")
    obj = obj if isinstance(obj, dict) else {}
    reason = _str(detail.get("reason"))
    detail_type = _str(event.get("detail-type")) or ""
    event_name = _EVENTBRIDGE_REASONS.get(reason or "") or _EVENTBRIDGE_TYPES.get(
        detail_type, detail_type
    )
    return S3Object(
        bucket=name,
        key=key,
        event_name=event_name,
        size=_int(obj.get("size")),
        etag=_str(obj.get("etag")),
        version_id=_str(obj.get("version-id")),
        sequencer=_str(obj.get("sequencer")),
        event_time=_str(event.get("time")),
        via=via,
    )


def is_test_event(payload: Any) -> bool:
    """S3's ``s3:TestEvent``, sent when a notification is configured; it names no object."""
    return isinstance(payload, dict) and payload.get("Event") == "s3:TestEvent"


def is_notification(payload: Any) -> bool:
    """A dict of ``Records`` that all come from S3 (the body of a wrapped notification)."""
    if not isinstance(payload, dict):
        return False
    records = payload.get("Records")
    return (
        isinstance(records, list)
        and bool(records)
        and all(isinstance(r, dict) and r.get("eventSource") == "aws:s3" for r in records)
    )


def is_eventbridge_s3(payload: Any) -> bool:
    """An EventBridge event from ``aws.s3`` (as delivered to SQS by an EventBridge rule)."""
    return (
        isinstance(payload, dict)
        and payload.get("source") == "aws.s3"
        and "detail-type" in payload
        and isinstance(payload.get("detail"), dict)
    )


def objects_in(payload: Any, via: str) -> list[S3Object] | None:
    """The objects of an S3 payload in any wrapping; ``[]`` for a test event; None if not S3."""
    if is_test_event(payload):
        return []
    if is_notification(payload):
        return [from_notification_record(record, via) for record in payload["Records"]]
    if is_eventbridge_s3(payload):
        return [from_eventbridge(payload, via)]
    return None


def event_matches(pattern: str, event_name: str) -> bool:
    """S3 notification filter semantics: ``ObjectCreated:*`` matches every created event."""
    if pattern.endswith(":*"):
        return event_name.startswith(pattern[:-1]) or event_name == pattern
    return pattern == event_name
