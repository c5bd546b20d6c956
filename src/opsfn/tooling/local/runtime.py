"""The local stand-in for the Lambda runtime: one invocation at a time, as Lambda would run it.

Each call gets a context like Lambda's, its log lines are kept (Lambda's ``START``, ``END`` and
``REPORT`` lines around them) for ``X-Amz-Log-Type: Tail``, and a failure becomes the payload the
Python runtime returns: ``errorMessage``, ``errorType``, ``requestId``, ``stackTrace``.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import resource
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from opsfn.core import dead_letters
from opsfn.core.observability import get_logger
from opsfn.errors import OpsfnError
from opsfn.services import failed_events

Log = Callable[[str], None]
TAIL_BYTES = 4096  # Lambda returns the last 4 KB of the execution log
MAX_RESPONSE_BYTES = 6_291_556  # what Lambda names in Function.ResponseSizeTooLarge


@dataclass
class LocalContext:
    """What the Lambda runtime passes as ``context``."""

    aws_request_id: str
    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    timeout_ms: int
    client_context: Any = None
    function_version: str = "$LATEST"
    identity: Any = None
    started: float = field(default_factory=time.monotonic)

    @property
    def log_group_name(self) -> str:
        """The log group Lambda would write to."""
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        """A log stream name of Lambda's form."""
        return f"{time.strftime('%Y/%m/%d')}/[$LATEST]local"

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds until the function's timeout."""
        return max(0, int(self.timeout_ms - (time.monotonic() - self.started) * 1000))


@dataclass
class Outcome:
    """One invocation's result, or its error payload, with its log."""

    request_id: str
    ok: bool
    result: Any = None
    error: dict[str, Any] | None = None  # the runtime's payload: errorMessage, errorType, ...
    details: list[dict[str, Any]] = field(default_factory=list)  # a typed error's field paths
    code: str | None = None  # a typed error's stable code
    logs: str = ""
    ms: float = 0.0
    kind: str | None = None  # what opsfn detected
    routes: dict[str, bool] = field(default_factory=dict)  # route label -> it succeeded

    def payload(self) -> bytes:
        """The bytes Lambda returns for this invocation."""
        return json.dumps(self.result if self.ok else self.error).encode()

    def log_tail(self) -> str:
        """The last 4 KB of the log, as ``X-Amz-Log-Result`` carries it (base64)."""
        return base64.b64encode(self.logs.encode()[-TAIL_BYTES:]).decode()

    def typed_error(self) -> dict[str, Any]:
        """The error as ``/_local/invoke`` and ``opsfn invoke --local`` report it."""
        error = self.error or {}
        return {"errorType": error.get("errorType"), "errorMessage": error.get("errorMessage"),
                "code": self.code, "details": self.details}


class FunctionRuntime(Protocol):
    """What runs the local function: :class:`Runtime` in this process, or
    :class:`~opsfn.tooling.local.process_runtime.ProcessRuntime` in environments of its own."""

    on_outcome: list[Callable[[Outcome, str], None]]

    @property
    def function_arn(self) -> str:
        """The function's ARN."""

    def run(self, event: Any, label: str, *, quiet: bool = False, client_context: Any = None,
            request_id: str | None = None) -> Outcome:
        """Invoke the function with ``event``."""

    def __call__(self, event: Any, label: str, quiet: bool = False) -> tuple[bool, Any]:
        """(ok, result or typed error dict)."""


class _Capture(logging.Handler):
    """Keeps the log lines one invocation writes from its own thread."""

    def __init__(self, thread: int, formatter: logging.Formatter | None, request_id: str) -> None:
        super().__init__(logging.DEBUG)
        self.thread = thread
        self.json_formatter = formatter
        self.request_id = request_id
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread != self.thread:
            return
        try:
            if self.json_formatter is not None and record.name.split(".")[0] == _service():
                self.lines.append(self.json_formatter.format(record))
            else:  # the Python runtime's text format
                stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
                self.lines.append(f"[{record.levelname}]\t{stamp}.{int(record.msecs):03d}Z\t"
                                  f"{self.request_id}\t{record.getMessage()}")
        except Exception:  # noqa: BLE001 - a log line that cannot be formatted is skipped
            return


def _service() -> str:
    return str(get_logger().name)


def _max_rss_mb() -> int:
    return max(1, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)


def error_payload(error: BaseException, request_id: str, *, skip_frames: int = 1
                  ) -> dict[str, Any]:
    """The Python runtime's answer for an exception the handler raised."""
    frames = traceback.extract_tb(error.__traceback__)[skip_frames:]
    message = getattr(error, "message", None)
    return {"errorMessage": message if isinstance(message, str) else str(error),
            "errorType": type(error).__name__, "requestId": request_id,
            "stackTrace": traceback.format_list(frames)}


def error_line(error: dict[str, Any], log_format: str) -> str:
    """The line the Python runtime logs for a failed invocation: ``[ERROR] Type: message`` in
    the text format, one JSON object in the JSON format."""
    if log_format.upper() == "JSON":
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        return json.dumps({"timestamp": stamp, "level": "ERROR", **error})
    return f"[ERROR] {error.get('errorType')}: {error.get('errorMessage')}"


def report(outcome: Outcome, label: str, quiet: bool, log: Callable[[str], None],
           on_outcome: list[Callable[[Outcome, str], None]]) -> Outcome:
    """Log an invocation's outcome (errors always) and hand it to every ``on_outcome``."""
    if not outcome.ok and outcome.error is not None:
        log(f"{label}: {outcome.error.get('errorType')}: {outcome.error.get('errorMessage')} "
            f"({outcome.ms:.0f} ms)")
    elif not quiet:
        log(f"{label}: ok ({outcome.ms:.0f} ms)")
    for callback in on_outcome:
        try:
            callback(outcome, label)
        except Exception as exc:  # noqa: BLE001 - reporting must not fail the invocation
            log(f"{label}: activity not recorded ({type(exc).__name__})")
    return outcome


@dataclass
class Runtime:
    """Runs ``app`` like one Lambda execution environment: one invocation at a time."""

    app: Any
    log: Log
    function_name: str = "opsfn"
    function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:opsfn"
    timeout_ms: int = 900_000
    memory_mb: int = 1024
    log_format: str = "Text"  # the function's LoggingConfig.LogFormat: how the error line reads
    on_outcome: list[Callable[[Outcome, str], None]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _observed: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        dead_letters.use_sender(failed_events.send)  # an entry point, as the handler is
        observe = getattr(self.app, "observe", None)
        if callable(observe):
            observe(self._observe)

    def _observe(self, invocation: Any) -> None:
        self._observed["kind"] = invocation.kind
        self._observed["routes"] = {label: not stats[1] for label, stats in
                                    invocation.stats.items()}

    def __call__(self, event: Any, label: str, quiet: bool = False) -> tuple[bool, Any]:
        """(ok, result or typed error dict); ``quiet`` logs failures only (HTTP logs its own)."""
        outcome = self.run(event, label, quiet=quiet)
        return (True, outcome.result) if outcome.ok else (False, outcome.typed_error())

    def run(self, event: Any, label: str, *, quiet: bool = False, client_context: Any = None,
            request_id: str | None = None) -> Outcome:
        """Invoke the app with ``event``; every outcome is also handed to ``on_outcome``.

        ``request_id`` is kept across the retries of one asynchronous event, as Lambda keeps it.
        """
        # One invocation at a time, as in one Lambda execution environment: module state and
        # the logger are per process and were never meant to be shared by concurrent calls.
        with self.lock:
            outcome = self._run(event, client_context, request_id or str(uuid.uuid4()))
        return report(outcome, label, quiet, self.log, self.on_outcome)

    def _run(self, event: Any, client_context: Any, request_id: str) -> Outcome:
        context = LocalContext(request_id, self.function_name, self.function_arn, self.memory_mb,
                               self.timeout_ms, client_context)
        logger = get_logger()
        capture = _Capture(threading.get_ident(), logger.registered_formatter, request_id)
        root = logging.getLogger()
        root.addHandler(capture)
        self._observed.clear()
        started = time.perf_counter()
        outcome = Outcome(request_id, ok=True)
        try:
            outcome.result = self.app(event, context)
            self._marshal(outcome)
        except Exception as error:  # noqa: BLE001 - the runtime reports every failure
            outcome.ok = False
            outcome.error = error_payload(error, request_id)
            if isinstance(error, OpsfnError):
                outcome.code, outcome.details = error.code, error.details
            capture.lines.append(error_line(outcome.error, self.log_format))
        finally:
            root.removeHandler(capture)
        outcome.ms = (time.perf_counter() - started) * 1000
        outcome.kind = self._observed.get("kind")
        outcome.routes = dict(self._observed.get("routes") or {})
        outcome.logs = "\n".join([
            f"START RequestId: {request_id} Version: $LATEST", *capture.lines,
            f"END RequestId: {request_id}",
            f"REPORT RequestId: {request_id}\tDuration: {outcome.ms:.2f} ms\tBilled Duration: "
            f"{max(1, math.ceil(outcome.ms))} ms\tMemory Size: {self.memory_mb} MB\t"
            f"Max Memory Used: {_max_rss_mb()} MB\t"]) + "\n"
        return outcome

    @staticmethod
    def _marshal(outcome: Outcome) -> None:
        """Fail like the runtime when the result is not JSON or is over Lambda's reply limit."""
        try:
            size = len(json.dumps(outcome.result).encode())
        except (TypeError, ValueError) as exc:
            outcome.ok = False
            outcome.error = {"errorMessage": f"Unable to marshal response: {exc}",
                             "errorType": "Runtime.MarshalError",
                             "requestId": outcome.request_id, "stackTrace": []}
            outcome.result = None
            return
        if size > MAX_RESPONSE_BYTES:
            outcome.ok = False
            outcome.error = {"errorMessage": "Response payload size exceeded maximum allowed "
                                             f"payload size ({MAX_RESPONSE_BYTES} bytes).",
                             "errorType": "Function.ResponseSizeTooLarge"}
            outcome.result = None
