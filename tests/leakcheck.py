"""Whole-suite leak check: known secret values must never appear in a log line or an error reply.

Loaded as a pytest plugin from ``tests/conftest.py``. For the whole session it keeps every log
line opsfn writes (formatted as the JSON formatter writes it) and every error the function gives
back — HTTP replies with status >= 400, raised ``OpsfnError`` messages and details, and FAILED
custom-resource answers — and at the end fails the run if any registered secret occurs in them.

Tests register the secrets they create with the ``secret`` fixture (a derived SMTP password, an
IAM secret key from moto, a Redis password, a presigned signature, a DICOM patient name);
``STATIC_SECRETS`` lists values fixtures always use.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

STATIC_SECRETS = {
    "secret-signature",  # the ResponseURLServer's presigned query
    "Jane Doe",  # planted in exception messages by tests/core/apps.py
    "hunter2",
    "secret-key-material",
    "Patient^Jane",
}
MIN_SECRET_LENGTH = 6  # shorter values would match by accident


class Collector(logging.Handler):
    """Keeps formatted log lines and error replies, and the secrets to look for."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.texts: list[tuple[str, str]] = []
        self.secrets: set[str] = set(STATIC_SECRETS)
        self.formatter_fn: Callable[[logging.LogRecord], str] | None = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.formatter_fn(record) if self.formatter_fn else record.getMessage()
        except Exception:  # a formatting failure must not hide the message
            text = f"{record.getMessage()} {record.__dict__}"
        self.texts.append(("log", text))

    def add_reply(self, where: str, value: Any) -> None:
        self.texts.append((where, json.dumps(value, default=str)))

    def leaks(self) -> list[str]:
        found = []
        for secret in sorted(s for s in self.secrets if len(s) >= MIN_SECRET_LENGTH):
            for where, text in self.texts:
                if secret in text:
                    found.append(f"{secret[:4]}... found in {where}: {text[:160]}")
                    break
        return found


COLLECTOR = Collector()


def _wrap_app_call() -> Callable[[], None]:
    from opsfn.core.app import App
    from opsfn.core.dispatch import custom_resource
    from opsfn.errors import OpsfnError

    original_call = App.__call__
    original_body = custom_resource.response_body

    def call(self: App, event: Any, lambda_context: Any = None) -> Any:
        try:
            reply = original_call(self, event, lambda_context)
        except OpsfnError as error:
            COLLECTOR.add_reply("raised error", {"message": error.message, "details": error.details})
            raise
        if isinstance(reply, dict) and isinstance(reply.get("statusCode"), int) \
                and reply["statusCode"] >= 400:
            COLLECTOR.add_reply("HTTP error reply", reply)
        return reply

    def body(*args: Any, **kwargs: Any) -> bytes:
        encoded = original_body(*args, **kwargs)
        if kwargs.get("status") == "FAILED":
            COLLECTOR.add_reply("FAILED custom resource answer", encoded.decode())
        return encoded

    App.__call__ = call  # type: ignore[method-assign]
    custom_resource.response_body = body  # type: ignore[assignment]

    def restore() -> None:
        App.__call__ = original_call  # type: ignore[method-assign]
        custom_resource.response_body = original_body

    return restore


@pytest.fixture(scope="session", autouse=True)
def _leak_check() -> Iterator[None]:
    """Collect for the whole session; fail at the end if a secret leaked."""
    from opsfn.core.observability import get_logger

    logger = get_logger()
    COLLECTOR.formatter_fn = logger.registered_formatter.format
    logging.getLogger(logger.name).addHandler(COLLECTOR)
    restore = _wrap_app_call()
    yield
    restore()
    logging.getLogger(logger.name).removeHandler(COLLECTOR)
    leaks = COLLECTOR.leaks()
    if leaks:
        pytest.fail("secret values leaked:\n" + "\n".join(leaks), pytrace=False)


@pytest.fixture
def secret() -> Callable[[str], str]:
    """Register a value that must never be logged or shown in an error; returns it."""

    def register(value: str) -> str:
        COLLECTOR.secrets.add(value)
        return value

    return register
