"""The Lambda API's Invoke, GetFunction and ListFunctions, on the local stack's own port.

So ``aws lambda invoke --endpoint-url http://127.0.0.1:3000``, boto3's and the JavaScript SDK's
Lambda clients reach the function as they reach it on AWS. The wire shapes are the REST-JSON ones
of the Lambda service model: ``X-Amz-Invocation-Type`` (RequestResponse, Event -> 202, DryRun ->
204), ``X-Amz-Log-Type: Tail`` -> ``X-Amz-Log-Result``, ``X-Amz-Function-Error: Unhandled`` with
the runtime's error payload, and errors as ``x-amzn-ErrorType`` with a JSON body. Requests are
not signature-checked: this is a local emulator bound to loopback.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote

from opsfn.tooling.local.function import LATEST, FunctionInfo
from opsfn.tooling.local.runtime import Outcome

PREFIX = "/2015-03-31/functions"
MAX_SYNC_BYTES = 6 * 1024 * 1024  # 6291456: RequestResponse payload limit
MAX_ASYNC_BYTES = 256 * 1024  # 262144: Event payload limit
INVOCATION_TYPES = ("RequestResponse", "Event", "DryRun")
_INVOKE = re.compile(rf"^{PREFIX}/(?P<name>[^/]+)/invocations/?$")
_CONFIGURATION = re.compile(rf"^{PREFIX}/(?P<name>[^/]+)/configuration/?$")
_FUNCTION = re.compile(rf"^{PREFIX}/(?P<name>[^/]+)/?$")


@dataclass
class Reply:
    """An HTTP answer of the Lambda API."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def error_reply(status: int, code: str, message: str, *, lower: bool = False) -> Reply:
    """Lambda's error: ``x-amzn-ErrorType`` and ``{"Type": "User", "Message": ...}`` (``message``
    in the shapes whose model spells it so)."""
    body = {"Type": "User", ("message" if lower else "Message"): message}
    return Reply(status, json.dumps(body).encode(), {
        "Content-Type": "application/json", "x-amzn-ErrorType": code,
        "x-amzn-RequestId": str(uuid.uuid4())})


def _json(status: int, value: Any) -> Reply:
    return Reply(status, json.dumps(value).encode(), {
        "Content-Type": "application/json", "x-amzn-RequestId": str(uuid.uuid4())})


def too_large(size: int, invocation_type: str) -> Reply | None:
    """Lambda's RequestEntityTooLargeException when a payload is over its invocation type's
    limit (6 MB synchronous, 256 KB asynchronous)."""
    if invocation_type == "Event" and size > MAX_ASYNC_BYTES:
        return error_reply(413, "RequestEntityTooLargeException",
                           f"{size} byte payload is too large for the Event invocation type "
                           f"(limit {MAX_ASYNC_BYTES} bytes)", lower=True)
    if size > MAX_SYNC_BYTES:
        return error_reply(413, "RequestEntityTooLargeException",
                           f"Request must be smaller than {MAX_SYNC_BYTES} bytes for the "
                           "InvokeFunction operation", lower=True)
    return None


def _client_context(header: str | None) -> Any:
    if not header:
        return None
    try:
        return json.loads(base64.b64decode(header, validate=True))
    except (binascii.Error, ValueError):
        return None


class LambdaApi:
    """Answers the Lambda API's requests for the one local function."""

    def __init__(self, function: Callable[[], FunctionInfo], role: Callable[[], str],
                 invoke: Callable[[Any, str, Any], Outcome],
                 submit: Callable[[Any, str], None]) -> None:
        self.function = function
        self.role = role
        self.invoke = invoke
        self.submit = submit

    @staticmethod
    def handles(path: str) -> bool:
        """Whether ``path`` belongs to the Lambda API."""
        return path == PREFIX or path.startswith(PREFIX + "/")

    @staticmethod
    def body_limit(path: str, headers: dict[str, str]) -> int | None:
        """The largest body this request may carry (None: no Invoke, no limit of ours)."""
        if not _INVOKE.match(path):
            return None
        kind = headers.get("x-amz-invocation-type") or "RequestResponse"
        return MAX_ASYNC_BYTES if kind == "Event" else MAX_SYNC_BYTES

    def handle(self, method: str, path: str, query: str, headers: dict[str, str], body: bytes,
               *, declared_size: int | None = None) -> Reply:
        """The reply to one request (``headers`` with lower-case names)."""
        params = {k: v[-1] for k, v in parse_qs(query).items()}
        if (match := _INVOKE.match(path)) and method == "POST":
            return self._invoke(unquote(match.group("name")), params.get("Qualifier"), headers,
                                body, declared_size)
        if (match := _CONFIGURATION.match(path)) and method == "GET":
            return self._configuration(unquote(match.group("name")), params.get("Qualifier"))
        if path.rstrip("/") == PREFIX and method == "GET":
            function = self.function()
            return _json(200, {"Functions": [function.configuration(self.role())]})
        if (match := _FUNCTION.match(path)) and method == "GET":
            return self._get(unquote(match.group("name")), params.get("Qualifier"))
        return error_reply(404, "UnknownOperationException",
                           f"{method} {path} is not an operation the local Lambda API serves "
                           "(Invoke, GetFunction, GetFunctionConfiguration, ListFunctions)")

    def _find(self, name: str, qualifier: str | None) -> FunctionInfo | Reply:
        function = self.function()
        if function.matches(name, qualifier):
            return function
        return error_reply(404, "ResourceNotFoundException",
                           f"Function not found: {function.unknown_arn(name, qualifier)}")

    def _get(self, name: str, qualifier: str | None) -> Reply:
        found = self._find(name, qualifier)
        if isinstance(found, Reply):
            return found
        return _json(200, {"Configuration": found.configuration(self.role()),
                           "Code": {"RepositoryType": "Local"}, "Tags": {}})

    def _configuration(self, name: str, qualifier: str | None) -> Reply:
        found = self._find(name, qualifier)
        return found if isinstance(found, Reply) else _json(200, found.configuration(self.role()))

    def _invoke(self, name: str, qualifier: str | None, headers: dict[str, str], body: bytes,
                declared_size: int | None) -> Reply:
        found = self._find(name, qualifier)
        if isinstance(found, Reply):
            return found
        kind = headers.get("x-amz-invocation-type") or "RequestResponse"
        if kind not in INVOCATION_TYPES:
            return error_reply(400, "InvalidParameterValueException",
                               f"1 validation error detected: Value '{kind}' at 'invocationType' "
                               "failed to satisfy constraint: Member must satisfy enum value set: "
                               "[Event, RequestResponse, DryRun]", lower=True)
        size = declared_size if declared_size is not None else len(body)
        refused = too_large(size, kind)
        if refused is not None:
            return refused
        try:
            event = json.loads(body) if body.strip() else {}
        except ValueError as error:
            return error_reply(400, "InvalidRequestContentException",
                               f"Could not parse request body into json: {error}", lower=True)
        request_id = str(uuid.uuid4())
        if kind == "DryRun":
            return Reply(204, b"", {"x-amzn-RequestId": request_id})
        label = f"Lambda Invoke ({kind})"
        if kind == "Event":
            self.submit(event, label)
            return Reply(202, b"", {"x-amzn-RequestId": request_id,
                                    "X-Amzn-Trace-Id": f"Root=1-{uuid.uuid4().hex[:8]}-local"})
        outcome = self.invoke(event, label, _client_context(headers.get("x-amz-client-context")))
        reply_headers = {"Content-Type": "application/json", "X-Amz-Executed-Version": LATEST,
                         "x-amzn-RequestId": outcome.request_id}
        if not outcome.ok:
            reply_headers["X-Amz-Function-Error"] = "Unhandled"
        if (headers.get("x-amz-log-type") or "None") == "Tail":
            reply_headers["X-Amz-Log-Result"] = outcome.log_tail()
        return Reply(200, outcome.payload(), reply_headers)
