"""Every AWS call a route makes is held against the route's ``access=`` declarations.

The deployment's IAM statements are made from the declarations, so a call a route makes without
declaring it works in a test against moto and fails in AWS. This check finds it first: each
client of :mod:`opsfn.services.aws` runs :func:`before_call` before a request is signed, and the
SDK-free paths call :func:`check` themselves. What happens to an undeclared call is
``OPSFN_ACCESS_CHECK``:

``log`` (the default)
    the first undeclared call of each route and action is logged, with a metric; the call goes on.
``deny``
    the call raises :class:`opsfn.errors.UndeclaredAccess` naming the route and the action (the
    test suite and ``opsfn local`` run this way).
``off``
    nothing is checked.

Only calls made while a route runs are checked: the framework's own calls (parking a failed
event) are declared once for every deployment by :data:`CORE_ACCESS`.
"""

from __future__ import annotations

import contextvars
import fnmatch
import threading
from typing import TYPE_CHECKING, Any

from opsfn.core.observability import emit_count, get_logger
from opsfn.core.settings import core_settings
from opsfn.errors import UndeclaredAccess

if TYPE_CHECKING:
    from opsfn.core.router import Route

__all__ = ["before_call", "check", "current_route", "enter_route", "iam_action", "leave_route"]


_route: contextvars.ContextVar[Route | None] = contextvars.ContextVar("opsfn_route", default=None)
_reported: set[tuple[str, str]] = set()
_reported_lock = threading.Lock()

# The SDK's service names whose IAM prefix differs.
_IAM_PREFIX = {"efs": "elasticfilesystem", "sesv2": "ses"}
# S3 operations whose IAM action has another name (AWS's S3 "actions, resources and condition
# keys" page): listing is ListBucket, a HEAD is the GET it describes, parts are PutObject.
_S3_ACTIONS = {
    "ListObjectsV2": "ListBucket", "ListObjects": "ListBucket", "HeadBucket": "ListBucket",
    "HeadObject": "GetObject", "ListObjectVersions": "ListBucketVersions",
    "ListMultipartUploads": "ListBucketMultipartUploads", "ListParts": "ListMultipartUploadParts",
    "CreateMultipartUpload": "PutObject", "UploadPart": "PutObject",
    "CompleteMultipartUpload": "PutObject", "CopyObject": "PutObject",
    "UploadPartCopy": "PutObject", "DeleteObjects": "DeleteObject",
}
# Batch operations that IAM authorizes by the single operation's action.
_BATCHES = {
    "sqs": {"SendMessageBatch": "SendMessage", "DeleteMessageBatch": "DeleteMessage",
            "ChangeMessageVisibilityBatch": "ChangeMessageVisibility"},
    "sns": {"PublishBatch": "Publish"},
}
# Calls that need no permission at all.
_UNGATED = frozenset({"sts:GetCallerIdentity"})


def iam_action(service: str, operation: str) -> str:
    """The IAM action a call of ``operation`` on the SDK's ``service`` needs."""
    if service == "s3":
        operation = _S3_ACTIONS.get(operation, operation)
    operation = _BATCHES.get(service, {}).get(operation, operation)
    return f"{_IAM_PREFIX.get(service, service)}:{operation}"


def current_route() -> Route | None:
    """The route running in this context, if any."""
    return _route.get()


enter_route = _route.set
"""Mark a route as the one this context's AWS calls are held to (returns the token to leave)."""
leave_route = _route.reset
"""Undo :data:`enter_route` (with its token)."""


def declared(route: Route, action: str) -> bool:
    """Whether one of the route's grants allows ``action`` (IAM wildcards honoured)."""
    if action in _UNGATED:
        return True
    lowered = action.lower()
    for grant in route.access:
        for allowed in grant.actions:
            if allowed.lower() == lowered or (
                    "*" in allowed and fnmatch.fnmatchcase(lowered, allowed.lower())):
                return True
    return False


def check(action: str) -> None:
    """Hold one call of ``action`` to the running route's declarations (see the module doc)."""
    route = _route.get()
    if route is None or declared(route, action):
        return
    mode = core_settings().access_check
    if mode == "off":
        return
    if mode == "deny":
        raise UndeclaredAccess(
            f"route {route.label} called {action}, which its access= does not declare")
    key = (route.label, action)
    with _reported_lock:
        if key in _reported:
            return
        _reported.add(key)
    get_logger().warning("undeclared AWS call", extra={"route": route.label, "aws_action": action})
    emit_count("UndeclaredAwsCalls")


def before_call(model: Any, **_: Any) -> None:
    """botocore's ``before-call`` handler: check the operation about to be sent."""
    check(iam_action(model.service_model.service_name, model.name))
