"""Lambda's logging controls: the application level, the JSON format, and no second copy of a
line through the runtime's root handler."""

from __future__ import annotations

import io
import json
import logging
import re
import uuid

import pytest

from opsfn.core import lambda_logging
from opsfn.core.jsonlog import JsonLogger


class _NoKeys(logging.Filter):
    pass


@pytest.mark.parametrize(("lambda_level", "powertools", "expected"), [
    ("TRACE", None, "DEBUG"), ("DEBUG", None, "DEBUG"), ("INFO", "DEBUG", "INFO"),
    ("WARN", None, "WARNING"), ("ERROR", "DEBUG", "ERROR"), ("FATAL", None, "CRITICAL"),
    (None, "WARNING", "WARNING"), (None, None, "INFO"), ("LOUD", "ERROR", "ERROR"),
    ("", "", "INFO"),
])
def test_lambda_application_level_wins_over_powertools(
        lambda_level: str | None, powertools: str | None, expected: str) -> None:
    env = {k: v for k, v in (("AWS_LAMBDA_LOG_LEVEL", lambda_level),
                             ("POWERTOOLS_LOG_LEVEL", powertools)) if v is not None}
    assert lambda_logging.application_level(env) == expected


@pytest.mark.parametrize(("value", "expected"), [("JSON", True), ("json", True), ("Text", False),
                                                 ("", False), (None, False)])
def test_json_format_is_read_from_the_runtime_variable(value: str | None, expected: bool) -> None:
    env = {} if value is None else {"AWS_LAMBDA_LOG_FORMAT": value}
    assert lambda_logging.json_format(env) is expected


def _logger(monkeypatch: pytest.MonkeyPatch, **env: str) -> tuple[JsonLogger, io.StringIO]:
    for key in ("AWS_LAMBDA_RUNTIME_API", "AWS_LAMBDA_LOG_FORMAT", "AWS_LAMBDA_LOG_LEVEL",
                "POWERTOOLS_LOG_LEVEL"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    name = f"opsfn-test-{uuid.uuid4().hex[:8]}"  # its own logger: the service's is untouched
    logger = JsonLogger(name, _NoKeys())
    stream = io.StringIO()
    for handler in logger.logger.handlers:
        handler.setStream(stream)  # type: ignore[attr-defined]
    return logger, stream


def test_under_the_runtime_lines_stay_off_the_root_handler(monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    root_lines: list[str] = []

    class RootHandler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            root_lines.append(record.getMessage())

    root = logging.getLogger()
    handler = RootHandler()
    root.addHandler(handler)
    try:
        logger, stream = _logger(monkeypatch, AWS_LAMBDA_RUNTIME_API="127.0.0.1:9001")
        logger.warning("only once")
        library, _ = _logger(monkeypatch)
        library.warning("also at the root")
    finally:
        root.removeHandler(handler)
    assert [json.loads(line)["message"] for line in stream.getvalue().splitlines()] == \
        ["only once"]
    assert "only once" not in root_lines
    assert "also at the root" in root_lines  # a library host (pytest's caplog) still sees lines
    assert library.logger.propagate is True


def test_json_log_format_writes_rfc3339_times_text_keeps_powertools(
        monkeypatch: pytest.MonkeyPatch) -> None:
    json_logger, json_stream = _logger(monkeypatch, AWS_LAMBDA_RUNTIME_API="127.0.0.1:9001",
                                       AWS_LAMBDA_LOG_FORMAT="JSON", AWS_LAMBDA_LOG_LEVEL="WARN")
    json_logger.info("dropped: below Lambda's application level")
    json_logger.warning("kept")
    lines = [json.loads(line) for line in json_stream.getvalue().splitlines()]
    assert [line["message"] for line in lines] == ["kept"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", lines[0]["timestamp"])

    text_logger, text_stream = _logger(monkeypatch, AWS_LAMBDA_RUNTIME_API="127.0.0.1:9001")
    text_logger.info("text format")
    line = json.loads(text_stream.getvalue())
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}[+-]\d{4}", line["timestamp"])
