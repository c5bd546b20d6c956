"""Work out which AWS source sent an event, with cheap key checks only.

Detection must be fast (it runs on every invocation), import nothing heavy and never fail with
anything but :class:`UnsupportedEvent`, whatever it is given. Messages name the top-level keys seen,
never their values: events can carry patient data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

from opsfn.errors import UnsupportedEvent
from opsfn.events.kinds import HTTP_KINDS, KINDS, Kind

__all__ = ["HTTP_KINDS", "KINDS", "Detected", "Kind", "describe_keys", "detect"]

_RECORD_SOURCES: Final = {"aws:s3": "s3", "aws:sqs": "sqs", "aws:sns": "sns", "aws:ses": "ses"}
_CUSTOM_RESOURCE_TYPES: Final = frozenset({"Create", "Update", "Delete"})
_MAX_KEYS_NAMED: Final = 12
_AWS_SOURCE: Final = re.compile(r"aws:[a-z0-9-]{1,30}")  # a fixed AWS name, never user data


@dataclass(slots=True)
class Detected:
    """The kind of an event, with the event itself for the dispatcher."""

    kind: Kind
    event: dict[str, Any]


def describe_keys(event: Any) -> str:
    """Name the top-level keys (sorted, bounded) or the type; never a value."""
    if not isinstance(event, dict):
        return f"a JSON {type(event).__name__}, not an object"
    if not event:
        return "an empty object"
    keys = sorted(str(key)[:40] for key in event)
    shown = ", ".join(keys[:_MAX_KEYS_NAMED])
    more = f" and {len(keys) - _MAX_KEYS_NAMED} more" if len(keys) > _MAX_KEYS_NAMED else ""
    return f"an object with keys [{shown}]{more}"


def _unsupported(event: Any, why: str) -> UnsupportedEvent:
    return UnsupportedEvent(f"unsupported event: {why}; saw {describe_keys(event)}")


def _records_kind(event: dict[str, Any]) -> Kind:
    records = event["Records"]
    if not isinstance(records, list) or not records:
        raise _unsupported(event, "Records is not a non-empty list")
    kinds: set[str] = set()
    for record in records:
        if not isinstance(record, dict):
            raise _unsupported(event, "a record is not an object")
        # SNS spells it EventSource, SQS, S3 and SES eventSource; others (DynamoDB, Kinesis,
        # CodeCommit) use values we do not serve, CloudFront has neither.
        source = record.get("eventSource", record.get("EventSource"))
        kind = _RECORD_SOURCES.get(source) if isinstance(source, str) else None
        if kind is None:
            label = source if isinstance(source, str) and _AWS_SOURCE.fullmatch(source) else "unknown"
            raise _unsupported(event, f"records from source '{label}' are not served")
        kinds.add(kind)
    if len(kinds) != 1:
        raise _unsupported(event, "records from more than one source")
    return kinds.pop()  # type: ignore[return-value]


def _http_kind(event: dict[str, Any], context: dict[str, Any]) -> Kind | None:
    # Authorizers look like REST requests but are not requests to serve.
    if "methodArn" in event or "routeArn" in event or "authorizationToken" in event:
        raise _unsupported(event, "authorizer events are not served")
    if "connectionId" in context or "eventType" in context:
        raise _unsupported(event, "WebSocket events are not served")
    if "elb" in context:
        return "alb"
    http = context.get("http")
    if event.get("version") == "2.0" and isinstance(http, dict) and "rawPath" in event:
        domain = context.get("domainName")
        if isinstance(domain, str) and ".lambda-url." in domain:
            return "function_url"
        return "http_v2"
    if isinstance(event.get("httpMethod"), str) and "resource" in event and "path" in event:
        return "http_v1"
    return None


def _eventbridge_kind(event: dict[str, Any]) -> Kind:
    source = event["source"]
    detail_type = event["detail-type"]
    if not isinstance(source, str) or not isinstance(detail_type, str):
        raise _unsupported(event, "EventBridge source or detail-type is not a string")
    if source == "aws.scheduler" or (source == "aws.events" and detail_type == "Scheduled Event"):
        return "schedule"
    if source == "aws.s3":
        return "s3_eventbridge"
    return "eventbridge"


def detect(event: Any) -> Detected:
    """Return the kind of ``event``, or raise :class:`UnsupportedEvent` naming what was seen."""
    if not isinstance(event, dict):
        raise _unsupported(event, "the event is not a JSON object")
    if not event:
        raise _unsupported(event, "empty event (a CDK trigger sends {}: give it an action, "
                                   "or set OPSFN_EMPTY_EVENT_ACTION)")
    if "Records" in event:
        return Detected(_records_kind(event), event)
    if event.get("Event") == "s3:TestEvent" and "Bucket" in event:
        return Detected("s3", event)
    context = event.get("requestContext")
    if isinstance(context, dict):
        kind = _http_kind(event, context)
        if kind is not None:
            return Detected(kind, event)
        raise _unsupported(event, "a requestContext that is no HTTP request opsfn serves")
    if "RequestType" in event and "ResponseURL" in event:
        request_type = event["RequestType"]
        if not isinstance(request_type, str) or request_type not in _CUSTOM_RESOURCE_TYPES \
                or not isinstance(event.get("ResourceType"), str):
            raise _unsupported(event, "a custom resource request without a valid RequestType")
        return Detected("custom_resource", event)
    if "detail-type" in event and "source" in event and "detail" in event:
        return Detected(_eventbridge_kind(event), event)
    action = event.get("action")
    if isinstance(action, str):
        return Detected("invoke", event)
    if "action" in event:
        raise _unsupported(event, "action is not a string")
    raise _unsupported(event, "no known event shape")
