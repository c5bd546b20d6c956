"""One Lambda execution environment: the function in its own process under ``awslambdaric``.

The process is started as Lambda's python3.13 runtime starts it: ``python3.13 -m awslambdaric
HANDLER`` in the code directory, with the runtime's variables (``AWS_LAMBDA_RUNTIME_API``,
``_HANDLER``, ``LAMBDA_TASK_ROOT``, ``AWS_LAMBDA_FUNCTION_MEMORY_SIZE``, ``AWS_LAMBDA_LOG_FORMAT``,
``AWS_LAMBDA_INITIALIZATION_TYPE``...). Its init runs once; events then go through the Runtime API
one at a time (with Lambda Managed Instances, up to ``AWS_LAMBDA_MAX_CONCURRENCY`` at once, each
in a worker the client forks). An event that outlives the timeout stops the environment, as Lambda
does, and the
caller gets ``Task timed out after N.NN seconds``. Everything the process writes is kept, line by
line, and each invocation gets the lines written while it ran.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opsfn.tooling.local.lambda_python import RUNTIME_PYTHON, LambdaPython
from opsfn.tooling.local.process_output import Frame, ProcessOutput, max_rss_mb
from opsfn.tooling.local.runtime_api import RuntimeApi

ON_DEMAND = "on-demand"
SNAP_START = "snap-start"


@dataclass(frozen=True, slots=True)
class FunctionConfig:
    """What Lambda knows of the function when it starts an environment."""

    name: str
    handler: str = "opsfn.handler.lambda_handler"
    memory_mb: int = 128
    timeout_s: float = 3.0
    region: str = "us-east-1"
    account: str = "123456789012"
    environment: dict[str, str] = field(default_factory=dict)
    log_format: str = "Text"  # LoggingConfig.LogFormat
    application_log_level: str | None = None  # LoggingConfig.ApplicationLogLevel (JSON only)
    snap_start: bool = False
    # Lambda Managed Instances: AWS_LAMBDA_MAX_CONCURRENCY forked workers take events side by
    # side in one environment (Python 3.13+; JSON logs only).
    max_concurrency: int | None = None

    @property
    def capacity(self) -> int:
        """Events one environment takes at once."""
        return max(1, self.max_concurrency or 1)

    @property
    def arn(self) -> str:
        """The function's ARN."""
        return f"arn:aws:lambda:{self.region}:{self.account}:function:{self.name}"


@dataclass
class Result:
    """One invocation as the caller of Lambda's Invoke sees it, with its log lines."""

    request_id: str
    ok: bool
    payload: Any
    error_type: str | None
    lines: list[str]
    ms: float
    timed_out: bool = False
    frames: list[Frame] = field(default_factory=list)  # the runtime's, with a telemetry fd
    max_memory_mb: int | None = None  # the process's peak resident memory so far


class Environment:
    """An execution environment: ``start`` runs the init, ``invoke`` one event at a time."""

    def __init__(self, python: LambdaPython, code_dir: Path, function: FunctionConfig, *,
                 layers: tuple[Path, ...] = (), telemetry: bool = False,
                 extra_environment: dict[str, str] | None = None) -> None:
        self.python = python
        self.code_dir = code_dir
        self.layers = layers  # directories importable after the code, as /opt/python is
        # Lambda gives the runtime a descriptor for framed log events (_LAMBDA_TELEMETRY_LOG_FD);
        # without it the runtime's handler writes to stdout.
        self.telemetry = telemetry
        self.function = function
        self.extra_environment = dict(extra_environment or {})
        self.api = RuntimeApi()
        self.process: subprocess.Popen[bytes] | None = None
        self.output: ProcessOutput | None = None
        self.init_ms: float | None = None
        self.slots = threading.BoundedSemaphore(function.capacity)
        self.stopped = False

    def environment(self) -> dict[str, str]:
        """The variables Lambda's python3.13 runtime gives the process (then the function's)."""
        fn = self.function
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "en_US.UTF-8", "TZ": ":UTC",
            "LAMBDA_TASK_ROOT": str(self.code_dir), "LAMBDA_RUNTIME_DIR": str(self.python.runtime_dir),
            "PYTHONPATH": os.pathsep.join([str(self.code_dir), *map(str, self.layers),
                                           str(self.python.runtime_dir)]),
            "AWS_EXECUTION_ENV": f"AWS_Lambda_python{RUNTIME_PYTHON}",
            "AWS_LAMBDA_RUNTIME_API": self.api.address, "_HANDLER": fn.handler,
            "AWS_LAMBDA_FUNCTION_NAME": fn.name, "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{fn.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": f"{time.strftime('%Y/%m/%d')}/[$LATEST]"
                                          f"{uuid.uuid4().hex}",
            "AWS_LAMBDA_INITIALIZATION_TYPE": SNAP_START if fn.snap_start else ON_DEMAND,
            "AWS_REGION": fn.region, "AWS_DEFAULT_REGION": fn.region,
            "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_SESSION_TOKEN": "local",
        }
        if fn.log_format.upper() == "JSON" or fn.max_concurrency:
            env["AWS_LAMBDA_LOG_FORMAT"] = "JSON"
            env["AWS_LAMBDA_LOG_LEVEL"] = (fn.application_log_level or "INFO").upper()
        if fn.max_concurrency:
            env["AWS_LAMBDA_MAX_CONCURRENCY"] = str(fn.max_concurrency)
        return {**env, **fn.environment, **self.extra_environment}

    def start(self, timeout_s: float = 60.0) -> float:
        """Start the process and wait for its init (Lambda's init limit is 10 s; a local
        machine gets more); returns the init time in ms, or raises with the process's output."""
        self.api.start()
        started = time.monotonic()
        env = self.environment()
        reader = writer = None
        if self.telemetry:
            reader, writer = os.pipe()
            env["_LAMBDA_TELEMETRY_LOG_FD"] = str(writer)
        self.process = subprocess.Popen(  # noqa: S603 - the runtime's own command line
            [self.python.interpreter, "-S", "-s", "-m", "awslambdaric", self.function.handler],
            cwd=self.code_dir, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, pass_fds=(writer,) if writer is not None else (),
            start_new_session=True)  # Ctrl-C stops opsfn local, which then stops environments
        if writer is not None:
            os.close(writer)  # the process holds it: end of file once it exits
        self.output = ProcessOutput(self.process, reader)
        deadline = started + timeout_s
        while not self.api.init.ready.wait(0.05):
            if self.process.poll() is not None or time.monotonic() > deadline:
                break
        if not self.api.init.ready.is_set() or self.api.init.error is not None:
            self.output.settle()
            lines = "\n".join(self.output.since(0)[-40:])
            error = self.api.init.error
            self.stop()
            raise RuntimeError(f"the environment's init failed ({error or 'no /next'}):\n{lines}")
        self.init_ms = ((self.api.init.ready_at or time.monotonic()) - started) * 1000
        return self.init_ms

    @property
    def alive(self) -> bool:
        """Whether the process is still there to take events."""
        return not self.stopped and self.process is not None and self.process.poll() is None

    def invoke(self, event: bytes, *, request_id: str | None = None,
               client_context: str | None = None) -> Result:
        """Run one event; past the function's timeout the environment is stopped."""
        if self.output is None or self.process is None:
            raise RuntimeError("the environment has not started")
        with self.slots:
            first = self.output.count()
            first_frame = self.output.frame_count()
            started = time.monotonic()
            invocation = self.api.submit(event, timeout_s=self.function.timeout_s,
                                         function_arn=self.function.arn, request_id=request_id,
                                         client_context=client_context)
            deadline = started + self.function.timeout_s
            while not invocation.done.wait(0.02):
                if time.monotonic() >= deadline or self.process.poll() is not None:
                    break
            ms = (time.monotonic() - started) * 1000
            self.output.settle()
            lines = self.output.since(first)
            frames = self.output.frames_since(first_frame)
            if self.function.capacity > 1:  # other events' lines interleave: keep this one's
                lines = [line for line in lines if invocation.request_id in line]
                frames = [frame for frame in frames if invocation.request_id in frame.message]
            memory = max_rss_mb(self.process.pid)
            if invocation.done.is_set():
                return Result(invocation.request_id, invocation.ok, invocation.result(),
                              invocation.error_type, lines, ms, max_memory_mb=memory,
                              frames=frames)
            timed_out = self.process.poll() is None
            code = self.process.poll()
            self.stop()
            if timed_out:
                message = (f"RequestId: {invocation.request_id} Error: Task timed out after "
                           f"{self.function.timeout_s:.2f} seconds")
                return Result(invocation.request_id, False,
                              {"errorType": "Sandbox.Timedout", "errorMessage": message},
                              "Sandbox.Timedout", lines, ms, timed_out=True,
                              max_memory_mb=memory)
            message = (f"RequestId: {invocation.request_id} Error: Runtime exited with error: "
                       f"exit status {code}")
            return Result(invocation.request_id, False,
                          {"errorType": "Runtime.ExitError", "errorMessage": message},
                          "Runtime.ExitError", lines, ms)

    def stop(self) -> None:
        """Stop the process and the Runtime API (what Lambda does to a timed-out environment)."""
        self.stopped = True
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.api.close()
