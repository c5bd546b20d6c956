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

from typing import TYPE_CHECKING

# Every event needs detection; and a lazily imported submodule named ``detect`` would otherwise
# become the package's ``detect`` attribute in place of the function.
from opsfn.events.detect import HTTP_KINDS, KINDS, Detected, Kind, detect
from opsfn.lazy import attributes

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
__getattr__, __dir__ = attributes(globals(), {
    name: f"opsfn.events.{home}:{name}" for name, home in _HOMES.items()})

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

