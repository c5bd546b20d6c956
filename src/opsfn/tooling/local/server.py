"""The local HTTP front: API Gateway (HTTP API, payload 2.0) and the Lambda API on one port.

Requests of every method (``OPTIONS`` included: the function answers CORS itself) become the
event API Gateway would send (with the caller an ``Authorization`` header
names: :mod:`opsfn.tooling.local.local_auth`); ``/2015-03-31/functions/...`` is the Lambda API
(:mod:`opsfn.tooling.local.lambda_api`); ``/`` serves the upload page (or the user's own files,
``--static``); ``/_local/...`` are the local stack's own endpoints (invoke an action, fire a
schedule, send an EventBridge event, the activity feed, and the ResponseURL custom resources
answer to).
"""

from __future__ import annotations

import base64
import json
import mimetypes
import sys
import time
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from opsfn.tooling.local.lambda_api import LambdaApi
from opsfn.tooling.local.local_auth import local_authorizer
from opsfn.tooling.local.static_mounts import StaticMount, find_file

if TYPE_CHECKING:
    from pathlib import Path

    from opsfn.tooling.local.stack import LocalStack

STATIC_FILES = {"/": "index.html", "/index.html": "index.html", "/app.js": "app.js",
                "/style.css": "style.css", "/activity.js": "activity.js",
                "/activity.css": "activity.css"}
TEXT_TYPES = ("application/json", "text/", "application/javascript", "application/xml")
MAX_READ_BYTES = 64 * 1024 * 1024  # a body larger than this is not even read: the connection closes
STREAM_KEEPALIVE_S = 15.0


def api_event(method: str, raw_path: str, headers: dict[str, str], body: bytes, client_ip: str
              ) -> dict[str, Any]:
    """The payload-2.0 event an HTTP API sends for this request."""
    parts = urlsplit(raw_path)
    query: dict[str, str] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        query[key] = f"{query[key]},{value}" if key in query else value
    lower = {k.lower(): v for k, v in headers.items()}
    content_type = lower.get("content-type", "")
    is_text = not body or content_type.startswith(TEXT_TYPES)
    now = datetime.now(UTC)
    event: dict[str, Any] = {
        "version": "2.0", "routeKey": "$default", "rawPath": parts.path,
        "rawQueryString": parts.query, "headers": lower,
        "queryStringParameters": query or None,
        "requestContext": {
            "accountId": "123456789012", "apiId": "local", "domainName": "127.0.0.1",
            "domainPrefix": "local", "requestId": str(uuid.uuid4()), "routeKey": "$default",
            "stage": "$default", "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
            "http": {"method": method, "path": parts.path, "protocol": "HTTP/1.1",
                     "sourceIp": client_ip, "userAgent": lower.get("user-agent", "")},
        },
        "body": (body.decode("utf-8", "replace") if is_text else base64.b64encode(body).decode())
        if body else None,
        "isBase64Encoded": bool(body) and not is_text,
    }
    authorizer = local_authorizer(lower)
    if authorizer is not None:
        event["requestContext"]["authorizer"] = authorizer
    return event


def make_server(stack: LocalStack, host: str, port: int,
                mounts: list[StaticMount] | None = None) -> ThreadingHTTPServer:
    """The HTTP server of the local stack (not started)."""
    static_mounts = list(mounts or [])

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "opsfn-local"

        def log_message(self, format: str, *args: Any) -> None:
            return  # one line per request is logged by _serve

        def setup(self) -> None:
            super().setup()
            # Headers and body are two writes: without this a keep-alive client's delayed ACK
            # holds the body back ~40 ms (every boto3 Lambda Invoke paid it).
            import socket

            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _json(self, status: int, value: Any) -> None:
            self._send(status, json.dumps(value, default=str).encode(),
                       {"content-type": "application/json"})

        def _length(self) -> int:
            try:
                return max(0, int(self.headers.get("Content-Length") or 0))
            except ValueError:
                return 0

        def _body(self) -> bytes:
            length = self._length()
            return self.rfile.read(length) if length else b""

        def _bounded_body(self, limit: int) -> tuple[bytes, int]:
            """The body when it is within ``limit``; else it is read and dropped (its size is
            what the reply names), or the connection closes when it is too large to read."""
            length = self._length()
            if length <= limit:
                return (self.rfile.read(length) if length else b""), length
            if length > MAX_READ_BYTES:
                self.close_connection = True
                return b"", length
            remaining = length
            while remaining > 0:
                chunk = self.rfile.read(min(remaining, 1 << 20))
                if not chunk:
                    break
                remaining -= len(chunk)
            return b"", length

        def _serve(self) -> None:
            started = time.monotonic()
            path = urlsplit(self.path).path
            try:
                status = self._dispatch(path)
            except (BrokenPipeError, ConnectionResetError):
                stack.log(f"{self.command} {path}: the client went away")
                self.close_connection = True
                return
            except Exception as exc:  # noqa: BLE001 - a local server must keep serving
                stack.log(f"{self.command} {path}: local server error {type(exc).__name__}")
                self._json(500, {"message": "local server error"})
                status = 500
            if not path.startswith(("/_local/cfn-response", "/_local/info", "/_local/activity")):
                stack.log(f"{self.command} {path} -> {status} "
                          f"({(time.monotonic() - started) * 1000:.0f} ms)")

        def _dispatch(self, path: str) -> int:
            if self.command in ("GET", "HEAD"):
                own = find_file(static_mounts, path) if static_mounts else None
                if own is not None:
                    return self._file(own)
                if path in STATIC_FILES:
                    return self._static(STATIC_FILES[path])
            if path.startswith("/_local/"):
                return self._local(path)
            if LambdaApi.handles(path):
                return self._lambda(path)
            return self._api(path)

        def _static(self, name: str) -> int:
            data = resources.files("opsfn.tooling.local").joinpath("static", name).read_bytes()
            kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
            self._send(200, data, {"content-type": f"{kind}; charset=utf-8",
                                   "cache-control": "no-store"})
            return 200

        def _file(self, path: Path) -> int:
            kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            charset = "; charset=utf-8" if kind.startswith(TEXT_TYPES) else ""
            self._send(200, path.read_bytes(), {"content-type": kind + charset,
                                                "cache-control": "no-store"})
            return 200

        def _lambda(self, path: str) -> int:
            headers = {k.lower(): v for k, v in self.headers.items()}
            limit = LambdaApi.body_limit(path, headers)
            body, size = self._bounded_body(limit) if limit is not None else (self._body(), 0)
            reply = stack.lambda_api.handle(self.command, path, urlsplit(self.path).query,
                                            headers, body,
                                            declared_size=size if limit is not None else None)
            self._send(reply.status, reply.body, reply.headers)
            return reply.status

        def _stream(self) -> int:
            """Server-Sent Events: every activity entry as it is recorded."""
            try:
                seq = int(self.headers.get("Last-Event-ID") or 0)
            except ValueError:
                seq = 0
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("cache-control", "no-store")
            self.end_headers()
            self.close_connection = True
            while True:
                entries = stack.activity.wait(seq, STREAM_KEEPALIVE_S)
                if entries is None:
                    return 200
                chunk = "".join(f"id: {e['seq']}\ndata: {json.dumps(e)}\n\n" for e in entries)
                self.wfile.write((chunk or ": keep-alive\n\n").encode())
                self.wfile.flush()
                seq = entries[-1]["seq"] if entries else seq

        def _local(self, path: str) -> int:
            parts = path.strip("/").split("/")
            if path == "/_local/info" and self.command == "GET":
                self._json(200, stack.info())
                return 200
            if path == "/_local/activity/stream" and self.command == "GET":
                return self._stream()
            if path == "/_local/activity" and self.command == "GET":
                query = dict(parse_qsl(urlsplit(self.path).query))
                after = int(query["after"]) if query.get("after", "").isdigit() else 0
                self._json(200, {"entries": stack.activity.since(after)})
                return 200
            if path == "/_local/invoke" and self.command == "POST":
                return self._invoke_result(*stack.invoke(json.loads(self._body() or b"{}"),
                                                         "invoke"))
            if len(parts) == 3 and parts[1] == "schedules" and self.command == "POST":
                if parts[2] not in stack.declared.schedules:
                    self._json(404, {"ok": False, "error": {"errorType": "NotFound",
                                     "errorMessage": f"no schedule {parts[2]!r} in the template"}})
                    return 404
                return self._invoke_result(*stack.fire(parts[2]))
            if path == "/_local/events" and self.command == "POST":
                from opsfn.testing import eventbridge_event

                data = json.loads(self._body() or b"{}")
                event = eventbridge_event(str(data.get("source")), str(data.get("detail-type")),
                                          dict(data.get("detail") or {}))
                return self._invoke_result(*stack.invoke(event, f"event {data.get('source')}"))
            if len(parts) == 3 and parts[1] == "cfn-response" and self.command == "PUT":
                stack.record_cfn_response(parts[2], json.loads(self._body() or b"{}"))
                self._send(200, b"", {})
                return 200
            self._json(404, {"message": "unknown local endpoint"})
            return 404

        def _invoke_result(self, ok: bool, result: Any) -> int:
            self._json(200, {"ok": True, "result": result} if ok else {"ok": False,
                                                                      "error": result})
            return 200

        def _api(self, path: str) -> int:
            event = api_event(self.command, self.path, dict(self.headers.items()), self._body(),
                              self.client_address[0])
            ok, reply = stack.invoke(event, f"{self.command} {path}", quiet=True)
            if not ok or not isinstance(reply, dict):
                self._json(502, {"message": "Internal Server Error"})
                return 502
            body = reply.get("body") or ""
            data = base64.b64decode(body) if reply.get("isBase64Encoded") else body.encode()
            headers = {str(k): str(v) for k, v in (reply.get("headers") or {}).items()}
            status = int(reply.get("statusCode", 200))
            self._send(status, data, headers)
            return status

        do_GET = _serve
        do_POST = _serve
        do_PUT = _serve
        do_DELETE = _serve
        do_PATCH = _serve
        do_HEAD = _serve
        do_OPTIONS = _serve  # CORS preflights are the handler's to answer, as in Lambda

        def __getattr__(self, name: str) -> Any:
            # Any other method reaches the handler too (which answers 405 or 404), not a 501.
            if name.startswith("do_") and name[3:].isalpha() and name[3:].isupper():
                return self._serve
            raise AttributeError(name)

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request: Any, client_address: Any) -> None:
            """A client that resets its connection is no error of the stack's; anything else is
            one log line (no traceback)."""
            kind = sys.exc_info()[0]
            if kind is None or issubclass(kind, ConnectionError | TimeoutError):
                return
            stack.log(f"request from {client_address[0]}: local server error {kind.__name__}")

    return Server((host, port), Handler)
