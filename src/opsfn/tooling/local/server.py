"""The local HTTP front: API Gateway (HTTP API, payload 2.0) in front of the in-process handler.

Requests of every method (``OPTIONS`` included: the function answers CORS itself) become the
event API Gateway would send; ``/`` serves the upload page; ``/_local/...``
are the local stack's own endpoints (invoke an action, fire a schedule, send an EventBridge
event, and the ResponseURL custom resources answer to).
"""

from __future__ import annotations

import base64
import json
import mimetypes
import time
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

if TYPE_CHECKING:
    from opsfn.tooling.local.stack import LocalStack

STATIC_FILES = {"/": "index.html", "/index.html": "index.html", "/app.js": "app.js",
                "/style.css": "style.css"}
TEXT_TYPES = ("application/json", "text/", "application/javascript", "application/xml")


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
    return {
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


def make_server(stack: LocalStack, host: str, port: int) -> ThreadingHTTPServer:
    """The HTTP server of the local stack (not started)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "opsfn-local"

        def log_message(self, format: str, *args: Any) -> None:
            return  # one line per request is logged by _serve

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

        def _body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

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
            if not path.startswith(("/_local/cfn-response", "/_local/info")):
                stack.log(f"{self.command} {path} -> {status} "
                          f"({(time.monotonic() - started) * 1000:.0f} ms)")

        def _dispatch(self, path: str) -> int:
            if self.command in ("GET", "HEAD") and path in STATIC_FILES:
                return self._static(STATIC_FILES[path])
            if path.startswith("/_local/"):
                return self._local(path)
            return self._api(path)

        def _static(self, name: str) -> int:
            data = resources.files("opsfn.tooling.local").joinpath("static", name).read_bytes()
            kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
            self._send(200, data, {"content-type": f"{kind}; charset=utf-8",
                                   "cache-control": "no-store"})
            return 200

        def _local(self, path: str) -> int:
            parts = path.strip("/").split("/")
            if path == "/_local/info" and self.command == "GET":
                self._json(200, stack.info())
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

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server
