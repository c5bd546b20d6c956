"""The local function run as Lambda runs it: execution environments, each its own process.

Each environment is ``python3.13 -m awslambdaric`` on the function's code
(:class:`~opsfn.tooling.local.environment.Environment`). Its init runs once and it then serves
one event at a time; an event that arrives while every environment is busy gets a new one, up to
the function's reserved concurrency (past it, the event waits for one to be free). A timed-out
event stops its environment; the next event starts another. The runtime's own log events come
framed through the telemetry descriptor, as on Lambda, so a multi-line error is one event. The
outcome of each invocation has the shape :class:`~opsfn.tooling.local.runtime.Runtime` gives in
process, so the Lambda API, the triggers and the activity panel do not know which runs.
"""

from __future__ import annotations

import json
import math
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opsfn import errors
from opsfn.errors import OpsfnError
from opsfn.events import detect
from opsfn.tooling.local.environment import Environment, FunctionConfig, Result
from opsfn.tooling.local.lambda_python import LambdaPython
from opsfn.tooling.local.runtime import Outcome, report

Log = Callable[[str], None]
DEFAULT_MAX_ENVIRONMENTS = 10  # without reserved concurrency: enough for a laptop


def _to_stderr(text: str) -> None:
    """The function's lines, where the in-process runtime's go (EMF documents stay in the
    invocation's log only: they are metrics, not lines to read)."""
    lines = [line for line in text.splitlines() if not line.startswith('{"_aws"')]
    if lines:
        sys.stderr.write("\n".join(lines) + "\n")
        sys.stderr.flush()


def detected_kind(event: Any) -> str | None:
    """The kind the function detects for ``event`` (the same cheap key checks, run here)."""
    if not event and isinstance(event, dict):
        return None  # the empty invoke's action is a setting of the function's environment
    try:
        return str(detect(event).kind)
    except OpsfnError:
        return None


def typed_code(error_type: Any) -> str | None:
    """The stable code of the opsfn error the runtime named (``errorType`` is its class name);
    its field-level details stay in the function's process, as on Lambda."""
    found = getattr(errors, error_type, None) if isinstance(error_type, str) else None
    if isinstance(found, type) and issubclass(found, errors.OpsfnError):
        return found.code
    return None


def _observed(lines: list[str]) -> tuple[str | None, dict[str, bool]]:
    """(kind opsfn detected, route -> succeeded) read from the function's own output: the
    ``source`` of its log lines and its EMF metric documents."""
    kind: str | None = None
    routes: dict[str, bool] = {}
    for line in lines:
        if not line.startswith("{"):
            continue
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if not isinstance(value, dict):
            continue
        if "_aws" in value and isinstance(value.get("route"), str):
            routes[value["route"]] = not value.get("Errors")
        elif kind is None and isinstance(value.get("source"), str):
            kind = value["source"]
    return kind, routes


def report_lines(outcome: Outcome, result: Result, memory_mb: int, rss_mb: int | None,
                 init_ms: float | None) -> str:
    """The invocation's log as Lambda writes it: START, the function's lines, END, REPORT."""
    request_id = result.request_id
    lines = [f"START RequestId: {request_id} Version: $LATEST", *result.lines]
    if result.timed_out:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
        lines.append(f"{stamp}Z {request_id} Task timed out after "
                     f"{result.payload['errorMessage'].rsplit('after ', 1)[-1]}")
    report = (f"REPORT RequestId: {request_id}\tDuration: {outcome.ms:.2f} ms\tBilled Duration: "
              f"{max(1, math.ceil(outcome.ms))} ms\tMemory Size: {memory_mb} MB\t"
              f"Max Memory Used: {rss_mb or 0} MB\t")
    if init_ms is not None:
        report += f"Init Duration: {init_ms:.2f} ms\t"
    if result.timed_out:
        report += "Status: timeout"
    return "\n".join([*lines, f"END RequestId: {request_id}", report]) + "\n"


@dataclass
class ProcessRuntime:
    """Environments of the function, started on demand and reused (the in-process
    :class:`~opsfn.tooling.local.runtime.Runtime`'s interface)."""

    python: LambdaPython
    code_dir: Path
    config: FunctionConfig
    log: Log
    layers: tuple[Path, ...] = ()
    max_environments: int = DEFAULT_MAX_ENVIRONMENTS
    echo: Callable[[str], None] = field(default=_to_stderr)
    on_outcome: list[Callable[[Outcome, str], None]] = field(default_factory=list)
    _load: dict[Environment, int] = field(default_factory=dict)  # events in flight in each
    _starting: int = 0
    _changed: threading.Condition = field(default_factory=threading.Condition)
    _started: int = 0
    _closed: bool = False

    @property
    def function_name(self) -> str:
        """The function's name."""
        return self.config.name

    @property
    def function_arn(self) -> str:
        """The function's ARN."""
        return self.config.arn

    @property
    def memory_mb(self) -> int:
        """Memory size the context and REPORT lines name."""
        return self.config.memory_mb

    @property
    def environments(self) -> int:
        """Environments alive now (busy or idle)."""
        with self._changed:
            return len([e for e in self._load if e.alive])

    def _acquire(self) -> tuple[Environment, float | None]:
        """An environment with room for an event (the most recently used first: the others may
        then go cold, as on Lambda), else a new one (init included), within the limit."""
        capacity = self.config.capacity
        with self._changed:
            while True:
                if self._closed:
                    raise RuntimeError("the local function is stopped")
                for gone in [e for e in self._load if not e.alive and not self._load[e]]:
                    del self._load[gone]
                free = [e for e in self._load if e.alive and self._load[e] < capacity]
                if free:
                    environment = free[-1]
                    self._load[environment] += 1
                    return environment, None
                if len(self._load) + self._starting < self.max_environments:
                    self._starting += 1
                    break
                self._changed.wait()
        environment = Environment(self.python, self.code_dir, self.config, layers=self.layers,
                                  telemetry=True)
        try:
            init_ms = environment.start()
        except Exception:
            with self._changed:
                self._starting -= 1
                self._changed.notify_all()
            raise
        with self._changed:
            self._starting -= 1
            self._started += 1
            number = self._started
            self._load[environment] = 1
        kind = "SnapStart init (snapshot hooks, then restore)" if self.config.snap_start \
            else f"init of {capacity} worker(s)" if capacity > 1 else "init"
        self.log(f"environment {number} of {self.config.name}: {kind} {init_ms:.0f} ms "
                 f"(pid {environment.process.pid if environment.process else '?'})")
        return environment, init_ms

    def _release(self, environment: Environment) -> None:
        with self._changed:
            if environment in self._load:
                self._load[environment] -= 1
                if not environment.alive and not self._load[environment]:
                    del self._load[environment]
                else:  # most recently used last: _acquire takes it first
                    self._load[environment] = self._load.pop(environment)
            self._changed.notify_all()

    def __call__(self, event: Any, label: str, quiet: bool = False) -> tuple[bool, Any]:
        """(ok, result or error dict), as :meth:`Runtime.__call__`."""
        outcome = self.run(event, label, quiet=quiet)
        return (True, outcome.result) if outcome.ok else (False, outcome.typed_error())

    def run(self, event: Any, label: str, *, quiet: bool = False, client_context: Any = None,
            request_id: str | None = None) -> Outcome:
        """Invoke the function in an environment; every outcome goes to ``on_outcome``."""
        return report(self._run(event, client_context, request_id), label, quiet, self.log,
                      self.on_outcome)

    def _run(self, event: Any, client_context: Any, request_id: str | None) -> Outcome:
        started = time.perf_counter()
        try:
            environment, init_ms = self._acquire()
        except RuntimeError as error:  # the init failed: Lambda answers Runtime.InitError
            message = str(error).splitlines()[0]
            return Outcome(request_id or "", ok=False, ms=(time.perf_counter() - started) * 1000,
                           error={"errorType": "Runtime.InitError", "errorMessage": message},
                           logs=str(error) + "\n")
        try:
            result = environment.invoke(
                json.dumps(event).encode(), request_id=request_id,
                client_context=json.dumps(client_context) if client_context is not None else None)
        finally:
            self._release(environment)
        kind, routes = _observed(result.lines)
        outcome = Outcome(result.request_id, ok=result.ok, ms=result.ms,
                          kind=detected_kind(event) or kind, routes=routes)
        if result.ok:
            outcome.result = result.payload
        else:
            outcome.error = result.payload if isinstance(result.payload, dict) else {
                "errorType": result.error_type or "Unhandled", "errorMessage": str(result.payload)}
            outcome.code = typed_code(outcome.error.get("errorType"))
        outcome.logs = report_lines(outcome, result, self.config.memory_mb, result.max_memory_mb,
                                    init_ms)
        if result.lines:
            self.echo("\n".join(result.lines) + "\n")
        return outcome

    def stop(self) -> None:
        """Stop every environment."""
        with self._changed:
            self._closed = True
            everything = list(self._load)
            self._load.clear()
            self._changed.notify_all()
        for environment in everything:
            environment.stop()
