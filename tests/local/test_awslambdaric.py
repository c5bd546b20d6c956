"""The function's code run as Lambda's python3.13 runtime runs it: its own Python 3.13 process
under awslambdaric, events through a local Runtime API, one environment per log format and init
type (on demand, and SnapStart's init with its restore hooks).

Each event kind is checked for its reply or error shape and for its log: each line the route logs
appears exactly once (never again through the runtime's root handler), carries Lambda's request
id, and is one JSON object (never JSON inside JSON). The code directory is the zip ``opsfn
package --with-sdk`` builds for this machine's architecture, unpacked read-only as Lambda unpacks
it into ``/var/task``, with ``ric_app.py`` in a layer directory (``/opt/python`` on Lambda); the
Python 3.13 and awslambdaric come from :mod:`opsfn.tooling.local.lambda_python` (installed once
into a cache). ``OPSFN_RIC_ZIP=path.zip`` runs them on a zip built elsewhere instead;
``OPSFN_RIC_ZIP=light`` on a lighter tree (opsfn as shipped and the locked pydantic), faster to
make while working on the runtime harness.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from opsfn.testing import (
    ResponseURLServer,
    custom_resource_event,
    http_v2_event,
    parse_http_reply,
    s3_event,
    schedule_event,
    ses_event,
    sns_event,
    sqs_event,
)
from opsfn.tooling.local.code_dir import from_zip, light_tree, make_writable
from opsfn.tooling.local.environment import Environment, FunctionConfig, Result
from opsfn.tooling.local.lambda_python import LambdaPython, RuntimeUnavailable, find_lambda_python
from tests.local import ric_app

HERE = Path(__file__).resolve().parent
MEMORY_MB = 256
BASE_ENV = {"OPSFN_APP": "ric_app:app", "POWERTOOLS_METRICS_DISABLED": "true"}


@pytest.fixture(scope="module")
def lambda_python() -> LambdaPython:
    try:
        return find_lambda_python()
    except RuntimeUnavailable as why:
        pytest.skip(f"the Lambda runtime's Python cannot be had here: {why}")


@pytest.fixture(scope="module")
def code_dir(lambda_python: LambdaPython, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[Path]:
    zip_path = os.environ.get("OPSFN_RIC_ZIP")
    if zip_path == "light":
        tree = light_tree(tmp_path_factory.mktemp("task") / "task",
                          modules=(HERE / "ric_app.py",), interpreter=lambda_python.interpreter)
    else:
        if not zip_path:  # what ships: the zip opsfn package builds, with bytecode
            from opsfn.tooling import packaging
            from opsfn.tooling.local.lambda_python import machine

            built = tmp_path_factory.mktemp("zip") / "opsfn-lambda.zip"
            packaging.build("arm64" if machine() == "aarch64" else "x86_64", output=built,
                            compile_with=lambda_python.interpreter, with_sdk=True)
            zip_path = str(built)
        tree = from_zip(Path(zip_path), tmp_path_factory.mktemp("task") / "task")
    yield tree
    make_writable(tree)


@pytest.fixture(scope="module")
def layers(code_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ...]:
    """The test application as a layer when the code is the shipped zip (which lacks it)."""
    if (code_dir / "ric_app.py").exists():
        return ()
    layer = tmp_path_factory.mktemp("layer")
    shutil.copy2(HERE / "ric_app.py", layer / "ric_app.py")
    return (layer,)


def start(python: LambdaPython, code: Path, layers: tuple[Path, ...], *,
          log_format: str = "Text", level: str | None = None, snap_start: bool = False,
          timeout_s: float = 30.0, **env: str) -> Environment:
    environment = Environment(python, code, FunctionConfig(
        "ric-fn", memory_mb=MEMORY_MB, timeout_s=timeout_s, log_format=log_format,
        application_log_level=level, snap_start=snap_start, environment={**BASE_ENV, **env}),
        layers=layers)
    environment.start()
    return environment


@pytest.fixture(scope="module", params=[("Text", False), ("JSON", False), ("Text", True),
                                        ("JSON", True)],
                ids=["text", "json", "text-snapstart", "json-snapstart"])
def environment(request: pytest.FixtureRequest, lambda_python: LambdaPython, code_dir: Path,
                layers: tuple[Path, ...]) -> Iterator[Environment]:
    log_format, snap_start = request.param
    environment = start(lambda_python, code_dir, layers, log_format=log_format,
                        snap_start=snap_start)
    yield environment
    environment.stop()


def invoke(environment: Environment, event: Any) -> Result:
    return environment.invoke(json.dumps(event).encode())


def opsfn_lines(result: Result) -> list[dict[str, Any]]:
    """The function's own JSON lines (the runtime's error lines have no ``service``)."""
    lines = []
    for line in result.lines:
        if line.startswith("{"):
            value = json.loads(line)
            if isinstance(value, dict) and value.get("service") == "opsfn":
                lines.append(value)
    return lines


def assert_logged_once(result: Result, what: str) -> None:
    """``ric WHAT ran`` and ``ric WHAT warned`` once each, nothing else naming them, every opsfn
    line one JSON object carrying this request's id."""
    for message in (f"ric {what} ran", f"ric {what} warned"):
        assert sum(message in line for line in result.lines) == 1, (message, result.lines)
    assert not any(f"ric {what} debug" in line for line in result.lines)  # below INFO
    ours = opsfn_lines(result)
    assert [line["message"] for line in ours if line["message"].startswith("ric ")] == \
        [f"ric {what} ran", f"ric {what} warned"]
    for line in ours:
        assert line["function_request_id"] == result.request_id
        assert not str(line["message"]).lstrip().startswith("{")  # never JSON inside JSON
    for line in result.lines:  # every line of the output is a JSON object or the runtime's text
        if line.startswith("{"):
            assert isinstance(json.loads(line), dict)


def test_the_process_is_the_runtimes(environment: Environment) -> None:
    result = invoke(environment, {"action": "ric_echo", "word": "hi"})
    assert result.ok, result.payload
    assert result.payload["word"] == "hi"
    assert result.payload["memory"] == str(MEMORY_MB)  # the runtime's context: a string
    assert result.payload["function"] == "ric-fn"
    assert result.payload["request_id"] == result.request_id
    assert result.payload["pid"] == environment.process.pid  # type: ignore[union-attr]
    assert_logged_once(result, "action")


def test_http_v2(environment: Environment) -> None:
    result = invoke(environment, http_v2_event("GET", "/ric/hello", query={"name": "ada"}))
    assert result.ok, result.payload
    reply = parse_http_reply(result.payload)
    assert (reply.status, json.loads(reply.body)) == (200, {"hello": "ada"})
    assert_logged_once(result, "http")
    assert {line["source"] for line in opsfn_lines(result)} == {"http_v2"}


def test_s3(environment: Environment) -> None:
    result = invoke(environment, s3_event(ric_app.BUCKET, "in/a.json"))
    assert result.ok, result.payload
    assert_logged_once(result, "s3")


def test_sqs_reports_only_the_failed_message(environment: Environment) -> None:
    event = sqs_event([{"word": "a"}, {"word": "b", "fail": "yes"}], queue=ric_app.QUEUE)
    result = invoke(environment, event)
    assert result.ok, result.payload
    failed = event["Records"][1]["messageId"]
    assert result.payload == {"batchItemFailures": [{"itemIdentifier": failed}]}
    assert sum("ric sqs ran" in line for line in result.lines) == 2  # once per message


def test_sns(environment: Environment) -> None:
    result = invoke(environment, sns_event({"news": 1}, topic=ric_app.TOPIC))
    assert result.ok, result.payload
    assert_logged_once(result, "sns")


def test_schedule(environment: Environment) -> None:
    result = invoke(environment, schedule_event(ric_app.SCHEDULE, scheduler=True))
    assert result.ok, result.payload
    assert result.payload == {"schedule": f"schedule:{ric_app.SCHEDULE}",
                              "result": {"schedule": ric_app.SCHEDULE}}
    assert_logged_once(result, "schedule")


def test_custom_resource_answers_its_response_url(environment: Environment) -> None:
    with ResponseURLServer() as server:
        result = invoke(environment, custom_resource_event(
            "Create", "Custom::RicMarker", {"Label": "one"}, response_url=server.url))
        assert result.ok, result.payload
        assert len(server.received) == 1
        answer = server.received[0]["body"]
    assert (answer["Status"], answer["PhysicalResourceId"], answer["Data"]) == \
        ("SUCCESS", "marker-one", {"Label": "one"})
    assert_logged_once(result, "custom resource")
    assert not any("secret-signature" in line for line in result.lines)  # the presigned URL


def test_ses(environment: Environment) -> None:
    result = invoke(environment, ses_event("ric-message-1"))
    assert result.ok, result.payload
    assert result.payload["disposition"] == "CONTINUE"
    assert_logged_once(result, "ses")


@pytest.mark.parametrize(("fail", "error_type", "message"), [
    ("missing", "NotFound", "no such word"), ("conflict", "Conflict", "busy now"),
    ("crash", "InternalError", "internal error"),
])
def test_typed_errors_reach_the_caller_as_the_runtime_reports_them(
        environment: Environment, fail: str, error_type: str, message: str) -> None:
    result = invoke(environment, {"action": "ric_echo", "word": "x", "fail": fail})
    assert not result.ok
    assert (result.payload["errorType"], result.payload["errorMessage"],
            result.payload["requestId"]) == (error_type, message, result.request_id)
    assert isinstance(result.payload["stackTrace"], list)
    assert_logged_once(result, "action")
    assert not any("secret-value-never-shown" in line for line in result.lines)
    runtime_errors = [line for line in result.lines if error_type in line and
                      "service" not in line]
    assert len(runtime_errors) == 1  # the runtime's own error line, once
    if environment.function.log_format == "JSON":
        assert json.loads(runtime_errors[0])["requestId"] == result.request_id
    else:
        assert runtime_errors[0].startswith(f"[ERROR] {error_type}: {message}")


@pytest.mark.parametrize("snap_start", [False, True], ids=["on-demand", "snapstart"])
def test_cold_start_once_per_environment_and_snapstart_restores(
        lambda_python: LambdaPython, code_dir: Path,
        layers: tuple[Path, ...], snap_start: bool) -> None:
    environment = start(lambda_python, code_dir, layers, log_format="JSON", snap_start=snap_start)
    try:
        first = invoke(environment, {"action": "ric_echo", "word": "one"})
        second = invoke(environment, {"action": "ric_echo", "word": "two"})
    finally:
        environment.stop()
    assert environment.api.init.restored is snap_start  # /restore/next after the hooks ran
    assert first.payload["pid"] == second.payload["pid"]  # one environment, reused
    assert {line["cold_start"] for line in opsfn_lines(first)} == {True}
    assert {line["cold_start"] for line in opsfn_lines(second)} == {False}


def test_application_log_level_in_json_format(lambda_python: LambdaPython, code_dir: Path,
                                              layers: tuple[Path, ...]) -> None:
    environment = start(lambda_python, code_dir, layers, log_format="JSON", level="WARN",
                        POWERTOOLS_LOG_LEVEL="DEBUG")
    try:
        result = invoke(environment, {"action": "ric_echo", "word": "hi"})
    finally:
        environment.stop()
    assert result.ok
    messages = [line["message"] for line in opsfn_lines(result)]
    assert messages == ["ric action warned"]  # Lambda's WARN wins over Powertools' DEBUG
    assert all(line["timestamp"].endswith("Z") and "T" in line["timestamp"]
               for line in opsfn_lines(result))


def test_powertools_level_in_text_format(lambda_python: LambdaPython, code_dir: Path,
                                         layers: tuple[Path, ...]) -> None:
    environment = start(lambda_python, code_dir, layers, POWERTOOLS_LOG_LEVEL="DEBUG")
    try:
        result = invoke(environment, {"action": "ric_echo", "word": "hi"})
    finally:
        environment.stop()
    assert sum("ric action debug" in line for line in result.lines) == 1


def test_a_timed_out_invoke_stops_its_environment(lambda_python: LambdaPython, code_dir: Path,
                                                  layers: tuple[Path, ...]) -> None:
    environment = start(lambda_python, code_dir, layers, timeout_s=1.0)
    try:
        result = invoke(environment, {"action": "ric_nap", "seconds": 10})
    finally:
        environment.stop()
    assert result.timed_out and not result.ok
    assert result.payload == {
        "errorType": "Sandbox.Timedout",
        "errorMessage": f"RequestId: {result.request_id} Error: Task timed out after 1.00 seconds"}
    assert 1000 <= result.ms < 3000
    assert not environment.alive


def test_an_init_failure_is_reported_through_init_error(lambda_python: LambdaPython,
                                                        code_dir: Path) -> None:
    environment = Environment(lambda_python, code_dir, FunctionConfig(
        "ric-fn", environment={**BASE_ENV, "OPSFN_APP": "no_such_module:app"}))
    with pytest.raises(RuntimeError, match="init failed") as failed:
        environment.start()
    assert environment.api.init.error is not None
    assert environment.api.init.error_type is not None
    assert "no_such_module" in str(failed.value)


def test_managed_instances_workers_take_events_side_by_side(
        lambda_python: LambdaPython, code_dir: Path, layers: tuple[Path, ...]) -> None:
    """AWS_LAMBDA_MAX_CONCURRENCY: the client forks that many workers, each initialised on its
    own; one environment then runs that many events at once, each logging its lines once."""
    environment = Environment(lambda_python, code_dir, FunctionConfig(
        "ric-fn", memory_mb=MEMORY_MB, timeout_s=30, max_concurrency=2,
        environment=dict(BASE_ENV)), layers=layers)
    environment.start()
    try:
        started = time.monotonic()
        with ThreadPoolExecutor(2) as pool:
            results = list(pool.map(lambda _: invoke(environment, {"action": "ric_nap",
                                                                   "seconds": 1.5}), range(2)))
        elapsed = time.monotonic() - started
    finally:
        environment.stop()
    assert all(result.ok for result in results), [r.payload for r in results]
    assert len({result.payload["pid"] for result in results}) == 2  # two workers
    assert environment.process is not None
    assert environment.process.pid not in {result.payload["pid"] for result in results}
    assert elapsed < 2.9  # side by side, not one after the other (2 x 1.5 s)
    for result in results:
        assert_logged_once_lmi(result, "nap")


def assert_logged_once_lmi(result: Result, what: str) -> None:
    """Each route line once, as JSON (Managed Instances log JSON only), for this request."""
    for message in (f"ric {what} ran", f"ric {what} warned"):
        assert sum(message in line for line in result.lines) == 1, (message, result.lines)
    ours = opsfn_lines(result)
    assert [line["message"] for line in ours if line["message"].startswith("ric ")] == \
        [f"ric {what} ran", f"ric {what} warned"]
    assert {line["function_request_id"] for line in ours} == {result.request_id}
    assert all(line["timestamp"].endswith("Z") for line in ours)  # the JSON format's time


@pytest.mark.parametrize("log_format", ["Text", "JSON"])
def test_with_lambdas_telemetry_descriptor_no_frame_repeats_a_line(
        lambda_python: LambdaPython, code_dir: Path, layers: tuple[Path, ...],
        log_format: str) -> None:
    """On Lambda the runtime's root handler writes framed events to _LAMBDA_TELEMETRY_LOG_FD
    while the function's own lines go to stdout and stderr: both reach the log, so a line the
    handler also took would be there twice. Its frames hold only the runtime's own events."""
    environment = Environment(lambda_python, code_dir, FunctionConfig(
        "ric-fn", memory_mb=MEMORY_MB, timeout_s=30, log_format=log_format,
        environment=dict(BASE_ENV)), layers=layers, telemetry=True)
    environment.start()
    try:
        result = invoke(environment, {"action": "ric_echo", "word": "x", "fail": "missing"})
    finally:
        environment.stop()
    assert not result.ok and result.payload["errorType"] == "NotFound"
    assert_logged_once(result, "action")
    assert not any("ric action" in frame.message for frame in result.frames)
    (error,) = result.frames  # the runtime's error event, one frame however many lines
    if log_format == "JSON":
        assert error.json and json.loads(error.message)["errorType"] == "NotFound"
        assert error.frame_type == 0xA55A0016  # JSON, ERROR
    else:
        assert not error.json and error.message.startswith("[ERROR] NotFound: no such word\n")
        assert error.frame_type == 0xA55A0017  # text, ERROR
