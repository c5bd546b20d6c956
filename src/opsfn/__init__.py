"""opsfn: one AWS Lambda function for a cloud application's operational glue.

Every trigger reaches the same function; :func:`opsfn.events.detect` tells them apart and an
:class:`App` of :class:`Router` declarations sends each to a typed, validated route.

The public names below load on first use: a command such as ``opsfn sync`` or ``opsfn
smtp-password`` then starts without importing the router and its dispatchers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from opsfn.lazy import attributes

if TYPE_CHECKING:
    from opsfn.core.app import App
    from opsfn.core.invocation import Context
    from opsfn.core.observability import emit_count, get_logger
    from opsfn.core.router import Router, setting
    from opsfn.core.text import Text
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
    from opsfn.routes import builtin

__version__ = "0.1.0"

_EXPORTS = {
    "App": "opsfn.core.app",
    "Context": "opsfn.core.invocation",
    "CustomResourceRequest": "opsfn.events",
    "CustomResourceResult": "opsfn.events",
    "EventBridgeEvent": "opsfn.events",
    "HttpRequest": "opsfn.events",
    "Response": "opsfn.events",
    "S3Object": "opsfn.events",
    "ScheduleEvent": "opsfn.events",
    "SnsMessage": "opsfn.events",
    "SqsMessage": "opsfn.events",
    "Router": "opsfn.core.router",
    "Text": "opsfn.core.text",
    "emit_count": "opsfn.core.observability",
    "get_logger": "opsfn.core.observability",
    "builtin": "opsfn.routes",
    "setting": "opsfn.core.router",
}

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
    "Text",
    "__version__",
    "builtin",
    "emit_count",
    "get_logger",
    "setting",
]


__getattr__, __dir__ = attributes(globals(), {
    name: f"{module}:{name}" for name, module in _EXPORTS.items()})
