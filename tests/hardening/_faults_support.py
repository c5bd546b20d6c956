"""Shared pieces of the hardening tests: faults everywhere, outcomes, and reply checks.

``faults`` wraps :func:`opsfn.tooling.faults.inject_faults` and also reaches the sync's own S3 client
(built outside ``opsfn.services.aws`` for its connection pool), so every AWS call a route makes can fail.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from opsfn.errors import OpsfnError
from opsfn.services import aws
from opsfn.testing import FakeLambdaContext
from opsfn.tooling.faults import FaultPlan, _hook, inject_faults

# What an error message may look like: typed, short, and never a traceback or an exception repr.
_LEAKY = re.compile(r"Traceback|File \"|line \d+|<[a-zA-Z_.]+ object at|botocore\.|Exception\(")


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore retries at once: the tests prove retry logic, not the wall clock."""
    from botocore.retries import standard

    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", lambda self, context: 0.0)


def set_attempts(monkeypatch: pytest.MonkeyPatch, attempts: int) -> None:
    """Attempts per AWS call (botocore standard retries), for clients created from now on."""
    monkeypatch.setenv("OPSFN_AWS_MAX_ATTEMPTS", str(attempts))
    aws.reset()


@contextmanager
def faults(monkeypatch: pytest.MonkeyPatch, rate: float, seed: int, *,
           kinds: tuple[str, ...] = ("throttle", "server_error", "timeout"),
           operations: set[str] | None = None) -> Iterator[FaultPlan]:
    """Fault ``rate`` of every AWS attempt, the sync's own S3 client included."""
    from opsfn.routes.exports.sync import uploader

    with inject_faults(rate, kinds=kinds, seed=seed, operations=operations) as plan:
        real = uploader.s3_client
        hook = _hook(plan)

        def faulty(pool: int) -> Any:
            client = real(pool)
            client.meta.events.register_first("before-send", hook, unique_id="opsfn-faults")
            return client

        with monkeypatch.context() as patch:
            patch.setattr(uploader, "s3_client", faulty)
            yield plan


@dataclass
class Outcome:
    """What a caller saw: a reply, or the typed error raised."""

    reply: Any = None
    error: OpsfnError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def attempt(call: Callable[[], Any]) -> Outcome:
    """Run ``call``; an OpsfnError is an outcome, anything else escapes and fails the test."""
    try:
        return Outcome(reply=call())
    except OpsfnError as error:
        return Outcome(error=error)


def assert_clear_error(error: OpsfnError) -> None:
    """A typed error with a short message that names no internals."""
    assert isinstance(error, OpsfnError)
    assert error.message and len(error.message) < 300, error.message
    assert not _LEAKY.search(error.message), error.message
    assert error.__cause__ is None and error.__context__ is None


def assert_clear_http_error(reply: Any) -> None:
    """An HTTP error reply: 4xx/5xx, JSON with a code and a message, no stack trace."""
    assert reply.status >= 400, reply.text
    body = reply.json()
    assert set(body) >= {"error", "message"}, body
    assert not _LEAKY.search(json.dumps(body)), body


class SteppedContext(FakeLambdaContext):
    """A Lambda context whose time runs out after ``calls`` looks at the clock.

    Every look before that reports ``plenty`` ms left, later ones ``left`` ms: a route's time
    budget trips at a known step, however fast or slow the machine is.
    """

    def __init__(self, calls: int, *, plenty: int = 600_000, left: int = 1_000) -> None:
        super().__init__(plenty)
        self.calls = calls
        self.looks = 0
        self.plenty = plenty
        self.left = left

    def get_remaining_time_in_millis(self) -> int:
        self.looks += 1
        return self.plenty if self.looks <= self.calls else self.left


def wait_for(predicate: Callable[[], bool], timeout_s: float = 3.0) -> bool:
    """Poll ``predicate`` until true or the timeout passes."""
    give_up = time.monotonic() + timeout_s
    while time.monotonic() < give_up:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()
