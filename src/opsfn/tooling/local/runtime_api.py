"""Lambda's Runtime API for one execution environment, on loopback, standard library only.

A runtime interface client (``awslambdaric``, the bootstrap of Lambda's Python runtimes) polls
``GET /2018-06-01/runtime/invocation/next`` for an event and answers through ``.../response`` or
``.../error``; it reports a failed init through ``/init/error`` and, after a SnapStart init,
waits on ``/restore/next``. Serving those paths lets the shipped code run in its own process
exactly as Lambda starts it, instead of being called in this one.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PREFIX = "/2018-06-01/runtime"
ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"


@dataclass
class Invocation:
    """One event handed to the environment, and what the function answered."""

    body: bytes
    deadline_ms: int
    function_arn: str
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    client_context: str | None = None
    trace_id: str | None = None
    done: threading.Event = field(default_factory=threading.Event)
    ok: bool = False
    reply: bytes = b""
    error_type: str | None = None  # the Lambda-Runtime-Function-Error-Type header
    received_at: float | None = None  # monotonic time the runtime took it

    def result(self) -> Any:
        """The reply decoded as JSON (the runtime's error payload when not ``ok``)."""
        return json.loads(self.reply) if self.reply else None


@dataclass
class InitReport:
    """What the runtime said about its init phase."""

    ready: threading.Event = field(default_factory=threading.Event)  # first /next or restore
    restored: bool = False  # /restore/next was called (SnapStart)
    error: dict[str, Any] | None = None
    error_type: str | None = None
    ready_at: float | None = None


class RuntimeApi:
    """The Runtime API of one execution environment: a queue of events, one answer each."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.init = InitReport()
        self._pending: deque[Invocation] = deque()
        self._by_id: dict[str, Invocation] = {}
        self._wake = threading.Condition()
        self._closed = False
        self.server = ThreadingHTTPServer((host, port), _handler_for(self))
        self.server.daemon_threads = True
        # A short poll: stopping a timed-out environment waits for it before the caller's answer.
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={
            "poll_interval": 0.05}, name="runtime-api", daemon=True)

    @property
    def address(self) -> str:
        """``host:port``, the value of ``AWS_LAMBDA_RUNTIME_API``."""
        host, port = self.server.server_address[:2]
        return f"{host.decode() if isinstance(host, bytes) else host}:{port}"

    def start(self) -> RuntimeApi:
        """Serve in a background thread."""
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving; a runtime still waiting for an event is let go."""
        with self._wake:
            self._closed = True
            self._wake.notify_all()
        if self._thread.is_alive():
            self.server.shutdown()
        self.server.server_close()

    def submit(self, event: bytes, *, timeout_s: float, function_arn: str,
               request_id: str | None = None, client_context: str | None = None) -> Invocation:
        """Queue an event for the runtime's next ``/next``; wait on ``invocation.done``."""
        invocation = Invocation(event, int((time.time() + timeout_s) * 1000), function_arn,
                                client_context=client_context,
                                trace_id=f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]}"
                                         ";Sampled=0")
        if request_id:
            invocation.request_id = request_id
        with self._wake:
            self._by_id[invocation.request_id] = invocation
            self._pending.append(invocation)
            self._wake.notify_all()
        return invocation

    # -- what the handler calls ---------------------------------------------------------------
    def next_invocation(self) -> Invocation | None:
        """Block until an event is queued (None once closed)."""
        self._mark_ready()
        with self._wake:
            while not self._pending and not self._closed:
                self._wake.wait()
            if self._closed:
                return None
            invocation = self._pending.popleft()
        invocation.received_at = time.monotonic()
        return invocation

    def _mark_ready(self) -> None:
        if not self.init.ready.is_set():
            self.init.ready_at = time.monotonic()
            self.init.ready.set()

    def answer(self, request_id: str, ok: bool, body: bytes, error_type: str | None) -> bool:
        """Record the function's answer; False for an unknown or already answered id."""
        with self._wake:
            invocation = self._by_id.pop(request_id, None)
        if invocation is None:
            return False
        invocation.ok, invocation.reply, invocation.error_type = ok, body, error_type
        invocation.done.set()
        return True

    def init_failed(self, body: bytes, error_type: str | None) -> None:
        """The init phase failed: every queued event gets the init error."""
        try:
            self.init.error = json.loads(body)
        except ValueError:
            self.init.error = {"errorMessage": body.decode(errors="replace")}
        self.init.error_type = error_type
        self._mark_ready()
        with self._wake:
            waiting = list(self._by_id.values())
            self._by_id.clear()
            self._pending.clear()
        for invocation in waiting:
            invocation.reply, invocation.error_type = body, error_type
            invocation.done.set()

    def restored(self) -> None:
        """The runtime finished a SnapStart init and waits for its restore (given at once)."""
        self.init.restored = True


def _handler_for(api: RuntimeApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        """The Runtime API's paths (HTTP/1.1: the client keeps its connection)."""

        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            # Headers and body go out in two writes; without this, Nagle's algorithm and the
            # client's delayed ACK hold the body back ~40 ms on every event.
            import socket

            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, format: str, *args: Any) -> None:
            return  # the environment's own output is what matters

        def _reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None
                   ) -> None:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body:
                self.wfile.write(body)

        def _body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def do_GET(self) -> None:
            if self.path == f"{PREFIX}/invocation/next":
                self._next()
            elif self.path == f"{PREFIX}/restore/next":
                api.restored()
                self._reply(HTTPStatus.OK)
            else:
                self._reply(HTTPStatus.NOT_FOUND, b'{"errorType":"NotFound"}')

        def _next(self) -> None:
            invocation = api.next_invocation()
            if invocation is None:  # shutting down: the runtime will be stopped
                self._reply(HTTPStatus.GONE)
                return
            headers = {"Content-Type": "application/json",
                       "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
                       "Lambda-Runtime-Deadline-Ms": str(invocation.deadline_ms),
                       "Lambda-Runtime-Invoked-Function-Arn": invocation.function_arn}
            if invocation.trace_id:
                headers["Lambda-Runtime-Trace-Id"] = invocation.trace_id
            if invocation.client_context:
                headers["Lambda-Runtime-Client-Context"] = invocation.client_context
            self._reply(HTTPStatus.OK, invocation.body, headers)

        def do_POST(self) -> None:
            body = self._body()
            path = self.path
            error_type = self.headers.get(ERROR_TYPE_HEADER)
            if path == f"{PREFIX}/init/error":
                api.init_failed(body, error_type)
                self._reply(HTTPStatus.ACCEPTED, b'{"status":"OK"}')
                return
            if path == f"{PREFIX}/restore/error":
                api.init_failed(body, error_type)
                self._reply(HTTPStatus.ACCEPTED, b'{"status":"OK"}')
                return
            parts = path.removeprefix(f"{PREFIX}/invocation/").split("/")
            if path.startswith(f"{PREFIX}/invocation/") and len(parts) == 2 and \
                    parts[1] in ("response", "error"):
                if api.answer(parts[0], parts[1] == "response", body, error_type):
                    self._reply(HTTPStatus.ACCEPTED, b'{"status":"OK"}')
                else:
                    self._reply(HTTPStatus.BAD_REQUEST, b'{"errorType":"InvalidRequestID"}')
                return
            self._reply(HTTPStatus.NOT_FOUND, b'{"errorType":"NotFound"}')

    return Handler
