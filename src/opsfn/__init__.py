"""opsfn: one AWS Lambda function for a cloud application's operational glue.

Every trigger reaches the same function; :func:`opsfn.events.detect` tells them apart and an
:class:`App` of :class:`Router` declarations sends each to a typed, validated route.
"""

from opsfn.app import App
from opsfn.context import Context
from opsfn.events import (
    CustomResourceRequest,
    CustomResourceResult,
    EventBridgeEvent,
    HttpRequest,
    Response,
    S3Object,
    ScheduleEvent,
    SnsMessage,
    SqsMessage,
)
from opsfn.router import Router, setting

__version__ = "0.1.0"

__all__ = [
    "App",
    "Context",
    "CustomResourceRequest",
    "CustomResourceResult",
    "EventBridgeEvent",
    "HttpRequest",
    "Response",
    "Router",
    "S3Object",
    "ScheduleEvent",
    "SnsMessage",
    "SqsMessage",
    "__version__",
    "setting",
]
