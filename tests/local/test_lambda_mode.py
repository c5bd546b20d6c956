"""``opsfn local`` runs the function as Lambda does: execution environments of its own under
awslambdaric, the template's memory, timeout, reserved concurrency, SnapStart, logging config and
environment, reached through the Lambda API (tests/local/ric_template.yaml, tests/local/ric_app.py).
"""

from __future__ import annotations

import base64
import json
import os
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from opsfn.tooling.local.lambda_python import RuntimeUnavailable, find_lambda_python
from tests.local.conftest import ROOT, LocalRun, _finish, aws_client, start_local

FUNCTION = "ric-local"


@pytest.fixture(scope="module")
def ric_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRun]:
    try:
        find_lambda_python()
    except RuntimeUnavailable as why:
        pytest.skip(f"the Lambda runtime's Python cannot be had here: {why}")
    run = start_local(tmp_path_factory.mktemp("ric-stack"), "--app", "tests.local.ric_app:app",
                      "--template", str(ROOT / "tests" / "local" / "ric_template.yaml"))
    yield run
    _finish(run)


@pytest.fixture(scope="module")
def lam(ric_stack: LocalRun) -> Any:
    return aws_client(ric_stack, "lambda", endpoint=ric_stack.url)


def call(lam: Any, payload: dict[str, Any]) -> tuple[dict[str, Any], str, str | None]:
    """(payload, the call's log tail, X-Amz-Function-Error)."""
    reply = lam.invoke(FunctionName=FUNCTION, Payload=json.dumps(payload).encode(),
                       LogType="Tail")
    return (json.loads(reply["Payload"].read()), base64.b64decode(reply["LogResult"]).decode(),
            reply.get("FunctionError"))


def test_the_function_runs_in_an_environment_of_its_own(ric_stack: LocalRun, lam: Any) -> None:
    first, log, error = call(lam, {"action": "ric_echo", "word": "one"})
    second, _, _ = call(lam, {"action": "ric_echo", "word": "two"})
    assert error is None
    assert first["pid"] not in (ric_stack.process.pid, os.getpid())
    assert first["pid"] == second["pid"]  # initialised once, then reused
    assert first["memory"] == "384"  # the template's MemorySize, as the runtime's context has it
    assert first["function"] == FUNCTION
    assert first["setting"] == "from-the-template"
    assert "\tMemory Size: 384 MB\t" in log
    # ApplicationLogLevel WARN (JSON): the INFO line is dropped, the WARNING one kept, once.
    assert "ric action ran" not in log
    assert log.count("ric action warned") == 1
    assert "SnapStart init" in ric_stack.log()  # the template's SnapStart: hooks, then restore
    config = lam.get_function_configuration(FunctionName=FUNCTION)
    assert config["LoggingConfig"]["LogFormat"] == "JSON"
    assert config["LoggingConfig"]["ApplicationLogLevel"] == "WARN"


def test_concurrent_calls_get_environments_up_to_reserved_concurrency(lam: Any) -> None:
    with ThreadPoolExecutor(3) as pool:
        replies = list(pool.map(lambda _: call(lam, {"action": "ric_nap", "seconds": 0.6}),
                                range(3)))
    assert [error for _, _, error in replies] == [None, None, None]
    # Two run side by side in two environments; the third waits for one of them (the
    # template's ReservedConcurrentExecutions is 2).
    assert len({payload["pid"] for payload, _, _ in replies}) == 2


def test_a_timed_out_call_stops_its_environment(ric_stack: LocalRun, lam: Any) -> None:
    before, _, _ = call(lam, {"action": "ric_echo", "word": "before"})
    payload, log, error = call(lam, {"action": "ric_nap", "seconds": 5})
    assert error == "Unhandled"
    assert payload["errorType"] == "Sandbox.Timedout"
    assert payload["errorMessage"].endswith("Task timed out after 2.00 seconds")
    assert "Task timed out after 2.00 seconds" in log and "Status: timeout" in log
    assert re.search(r"\tMax Memory Used: [1-9]\d* MB\t", log)  # read before it was stopped
    after, _, error = call(lam, {"action": "ric_echo", "word": "after"})
    assert error is None and after["word"] == "after"
    assert after["pid"] != before["pid"]  # the nap ran where "before" did; that one is gone
    assert "Sandbox.Timedout" in ric_stack.log()


def test_typed_errors_are_the_runtimes_payload(lam: Any) -> None:
    payload, log, error = call(lam, {"action": "ric_echo", "word": "x", "fail": "missing"})
    assert error == "Unhandled"
    assert (payload["errorType"], payload["errorMessage"]) == ("NotFound", "no such word")
    errors = [json.loads(line) for line in log.splitlines() if '"level": "ERROR"' in line]
    assert [e["errorType"] for e in errors] == ["NotFound"]  # the runtime's JSON error line


def test_managed_instances_run_events_side_by_side_in_one_environment(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    """CapacityProviderConfig: one environment, PerExecutionEnvironmentMaxConcurrency workers."""
    try:
        find_lambda_python()
    except RuntimeUnavailable as why:
        pytest.skip(f"the Lambda runtime's Python cannot be had here: {why}")
    run = start_local(tmp_path_factory.mktemp("ric-managed"), "--app", "tests.local.ric_app:app",
                      "--template", str(ROOT / "tests" / "local" / "ric_managed_template.yaml"))
    try:
        lam = aws_client(run, "lambda", endpoint=run.url)
        call(lam, {"action": "ric_echo", "word": "warm"})  # the environment and its workers
        started = time.monotonic()
        with ThreadPoolExecutor(3) as pool:
            replies = list(pool.map(lambda _: call(lam, {"action": "ric_nap", "seconds": 1.5}),
                                    range(3)))
        elapsed = time.monotonic() - started
        log = run.log()
    finally:
        _finish(run)
    assert [error for _, _, error in replies] == [None, None, None]
    assert len({payload["pid"] for payload, _, _ in replies}) == 3  # three workers
    assert elapsed < 4.0  # side by side: one after the other would be 4.5 s
    assert log.count("init of 3 worker(s)") == 1  # one environment took all three
    for _, tail, _ in replies:
        assert tail.count("ric nap warned") == 1 and tail.count("ric nap ran") == 1
