"""Event-source detection and one typed envelope per source.

Envelopes are slotted dataclasses built once or more per event; they are not frozen because a
frozen dataclass's constructor costs several times more (one ``object.__setattr__`` per field),
which is a measurable part of dispatch. Those whose fields are all hashable (``S3Object``,
``ScheduleEvent``) hash by value; those holding a dict compare by value and are not hashable.
Routes treat them as read-only.
"""

from opsfn.events.custom_resource import CustomResourceRequest, CustomResourceResult
from opsfn.events.detect import HTTP_KINDS, KINDS, Detected, Kind, detect
from opsfn.events.eventbridge import EventBridgeEvent, ScheduleEvent
from opsfn.events.http import HttpRequest, Response
from opsfn.events.s3 import S3Object
from opsfn.events.ses import SesMessage
from opsfn.events.sns import SnsMessage
from opsfn.events.sqs import SqsMessage

__all__ = [
    "HTTP_KINDS",
    "KINDS",
    "CustomResourceRequest",
    "CustomResourceResult",
    "Detected",
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
