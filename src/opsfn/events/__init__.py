"""Event-source detection and one typed envelope per source.

Envelopes are slotted dataclasses built once or more per event; they are not frozen because a
frozen dataclass's constructor costs several times more (one ``object.__setattr__`` per field),
which is a measurable part of dispatch. Those whose fields are all hashable (``S3Object``,
``ScheduleEvent``) hash by value; those holding a dict compare by value and are not hashable.
Routes treat them as read-only.

Each name is imported from its module on first use: a cold start loads the modules of the one
source it handles, not every source's.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Every event needs detection; and a lazily imported submodule named ``detect`` would otherwise
# become the package's ``detect`` attribute in place of the function.
from opsfn.events.detect import HTTP_KINDS, KINDS, Detected, Kind, detect

if TYPE_CHECKING:
    from opsfn.events.custom_resource import CustomResourceRequest, CustomResourceResult
    from opsfn.events.envelope import Envelope
    from opsfn.events.eventbridge import EventBridgeEvent, ScheduleEvent
    from opsfn.events.http import HttpRequest, Response
    from opsfn.events.s3 import S3Object
    from opsfn.events.ses import SesMessage
    from opsfn.events.sns import SnsMessage
    from opsfn.events.sqs import SqsMessage

_HOMES = {
    "CustomResourceRequest": "custom_resource", "CustomResourceResult": "custom_resource",
    "Envelope": "envelope", "EventBridgeEvent": "eventbridge",
    "ScheduleEvent": "eventbridge", "HttpRequest": "http", "Response": "http", "S3Object": "s3",
    "SesMessage": "ses", "SnsMessage": "sns", "SqsMessage": "sqs",
}

__all__ = [
    "HTTP_KINDS",
    "KINDS",
    "CustomResourceRequest",
    "CustomResourceResult",
    "Detected",
    "Envelope",
    "EventBridgeEvent",
    "HttpRequest",
    "Kind",
    "Response",
    "S3Object",
    "ScheduleEvent",
    "SesMessage",
    "SnsMessage",
    "SqsMessage",
    "detect",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'opsfn.events' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"opsfn.events.{home}"), name)
    globals()[name] = value  # once: later lookups are plain module attributes
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOMES])
