"""The Lambda Invoke API on loopback, running opsfn's handler, for callers that use a real SDK.

The incident backend and the dashboard call ``lambda.invoke`` with their SDK; this server speaks the
same wire protocol (``POST /2015-03-31/functions/{name}/invocations``) so those calls can be made
unchanged with ``endpoint_url`` pointing here:

* ``RequestResponse``: 200 with the handler's JSON result, or 200 with ``X-Amz-Function-Error:
  Unhandled`` and ``{"errorType", "errorMessage"}`` when it raised (as the Python runtime does).
* ``Event``: 202 at once; the handler runs in the background and, like Lambda's asynchronous
  invocation, is retried twice on an error with the same request id.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opsfn.testing import FakeLambdaContext

ASYNC_RETRIES = 2


@dataclass
class Attempt:
    """One run of the handler: its request id and what it returned or raised."""

    request_id: str
    invocation_type: str
    event: Any
    result: Any = None
    error_type: str | None = None


@dataclass
class LambdaService:
    """The running server, and every attempt it made."""

    url: str
    attempts: list[Attempt] = field(default_factory=list)
    pending: list[threading.Thread] = field(default_factory=list)

    def wait(self, timeout_s: float = 30.0) -> None:
        """Let every asynchronous invocation (with its retries) finish."""
        for thread in list(self.pending):
            thread.join(timeout_s)
            assert not thread.is_alive(), "an asynchronous invocation did not finish"


def _run(handler: Callable[[Any, Any], Any], event: Any, request_id: str, kind: str,
         service: LambdaService, timeout_ms: int) -> Attempt:
    context = FakeLambdaContext(timeout_ms)
    context.aws_request_id = request_id
    attempt = Attempt(request_id, kind, event)
    try:
        attempt.result = handler(event, context)
    except Exception as exc:  # the runtime reports every error to the caller
        attempt.error_type = type(exc).__name__
        attempt.result = {"errorType": type(exc).__name__, "errorMessage": str(exc)}
    service.attempts.append(attempt)
    return attempt


@contextmanager
def lambda_service(handler: Callable[[Any, Any], Any], *, timeout_ms: int = 30_000
                   ) -> Iterator[LambdaService]:
    """Serve ``handler`` as a Lambda function on a free loopback port."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_POST(self) -> None:
            if not self.path.startswith("/2015-03-31/functions/") or not self.path.endswith(
                    "/invocations"):
                self.send_error(404)
                return
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            event = json.loads(raw) if raw else {}
            kind = self.headers.get("X-Amz-Invocation-Type") or "RequestResponse"
            request_id = str(uuid.uuid4())
            if kind == "Event":
                def background() -> None:
                    for _ in range(1 + ASYNC_RETRIES):
                        if _run(handler, event, request_id, kind, service, timeout_ms
                                ).error_type is None:
                            return

                thread = threading.Thread(target=background, daemon=True)
                service.pending.append(thread)
                thread.start()
                self._send(202, b"", {})
                return
            attempt = _run(handler, event, request_id, kind, service, timeout_ms)
            headers = {"X-Amz-Function-Error": "Unhandled"} if attempt.error_type else {}
            self._send(200, json.dumps(attempt.result).encode(), headers)

        def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Amz-Executed-Version", "$LATEST")
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    service = LambdaService(f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield service
    finally:
        service.wait()
        server.shutdown()
        server.server_close()


def sdk_client(url: str) -> Any:
    """A boto3 Lambda client as the dashboard makes one, pointed at the loopback service."""
    import boto3
    from botocore.config import Config

    return boto3.client("lambda", endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing",
                        config=Config(retries={"max_attempts": 1}, read_timeout=60))
