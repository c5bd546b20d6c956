"""Event-source detection and one typed envelope per source."""

from opsfn.events.custom_resource import CustomResourceRequest, CustomResourceResult
from opsfn.events.detect import HTTP_KINDS, KINDS, Detected, Kind, detect
from opsfn.events.eventbridge import EventBridgeEvent, ScheduleEvent
from opsfn.events.http import HttpRequest, Response
from opsfn.events.s3 import S3Object
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
    "SnsMessage",
    "SqsMessage",
    "detect",
]
