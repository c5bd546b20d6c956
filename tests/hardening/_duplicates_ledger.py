"""Side effects counted where AWS would see them: every request that reaches the emulated service.

moto answers every in-process boto3 request from one ``before-send`` handler. The ledger wraps that
handler, so it sees the requests of every client (opsfn's shared clients, the sync's own client and
its lean PutObject path, Powertools' idempotency client) exactly once per HTTP request. The same
wrapper serialises the requests: a real service applies each call atomically, and moto's backends
are not thread-safe, so without it two threads could both pass one conditional write and the test
would blame the product for the emulator.

AWS Backup has no moto backend: :class:`FakeBackup` answers it with the service's documented
idempotency (one job per ``IdempotencyToken``) and counts the jobs it starts.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

_SERIAL = threading.RLock()


@dataclass
class Request:
    """One request as the service received it."""

    service: str
    operation: str
    path: str


class Gate:
    """Force the worst interleaving of two copies at ``operation``.

    Both copies must reach ``operation`` (each having read the world, neither having acted);
    then the first goes on and finishes its whole delivery before the late one may send its
    request. Checks that are not atomic claims let the late copy act a second time.
    """

    def __init__(self, operation: str, timeout_s: float = 5.0) -> None:
        self.operation = operation
        self.timeout_s = timeout_s
        self.first: int | None = None
        self.held = 0
        self._both_there = threading.Event()
        self._finished = threading.Event()
        self._lock = threading.Lock()

    def arrive(self, event_name: str) -> None:
        """Called for every request before the service sees it."""
        if not event_name.endswith("." + self.operation):
            return
        me = threading.get_ident()
        with self._lock:
            if self.first is None:
                self.first = me
                role = "first"
            elif me == self.first:
                role = "again"
            else:
                self.held += 1
                role = "late"
        if role == "first":
            self._both_there.wait(self.timeout_s)
        elif role == "late":
            self._both_there.set()
            self._finished.wait(self.timeout_s)

    def delivered(self) -> None:
        """The calling thread's delivery is over; release a held copy if it was the first."""
        if threading.get_ident() == self.first:
            self._finished.set()


@dataclass
class Ledger:
    """Requests the emulated AWS carried out (2xx answers), plus named probes of other state."""

    requests: list[Request] = field(default_factory=list)
    probes: dict[str, Callable[[], int]] = field(default_factory=dict)
    gate: Gate | None = None

    def record(self, event_name: str, url: str) -> None:
        parts = event_name.split(".")
        service, operation = (parts[1], parts[-1]) if len(parts) >= 3 else ("?", event_name)
        self.requests.append(Request(service, operation, unquote(urlsplit(url).path)))

    def calls(self, name: str, path_contains: str = "") -> int:
        """How many ``service.Operation`` requests were answered (optionally for one URL part)."""
        service, operation = name.split(".", 1)
        return sum(1 for r in list(self.requests)
                   if r.service == service and r.operation == operation
                   and path_contains in r.path)

    def operations(self) -> Counter[str]:
        """Every answered request by ``service.Operation``."""
        return Counter(f"{r.service}.{r.operation}" for r in list(self.requests))

    def measure(self, effects: dict[str, Any]) -> dict[str, int]:
        """Current value of each effect: a probe name, ``service.Operation`` or (name, path part)."""
        out: dict[str, int] = {}
        for effect in effects:
            if effect in self.probes:
                out[effect] = self.probes[effect]()
            elif "@" in effect:
                name, part = effect.split("@", 1)
                out[effect] = self.calls(name, part)
            else:
                out[effect] = self.calls(effect)
        return out


@pytest.fixture
def ledger(monkeypatch: pytest.MonkeyPatch) -> Iterator[Ledger]:
    """Count (and serialise) every request moto answers during the test."""
    from moto.core.botocore_stubber import BotocoreStubber

    book = Ledger()
    original = BotocoreStubber.__call__

    def answered(self: BotocoreStubber, event_name: str, request: Any, **kwargs: Any) -> Any:
        if book.gate is not None:
            book.gate.arrive(event_name)
        with _SERIAL:
            response = original(self, event_name, request, **kwargs)
            if response is not None and int(response.status_code) < 300:
                book.record(event_name, str(request.url))
        return response

    monkeypatch.setattr(BotocoreStubber, "__call__", answered)
    yield book


class FakeBackup:
    """StartBackupJob with AWS Backup's idempotency: a repeated token returns the same job."""

    def __init__(self, ledger: Ledger) -> None:
        self.jobs: dict[str, str] = {}
        self._lock = threading.Lock()
        ledger.probes["backup.jobs"] = lambda: len(self.jobs)

    def __call__(self, params: dict[str, Any], **_: Any) -> Any:
        import datetime as dt
        import json

        from botocore.awsrequest import AWSResponse

        body = params.get("body") or b"{}"
        with self._lock:
            token = str(json.loads(body)["IdempotencyToken"])
            job_id = self.jobs.setdefault(token, f"job-{len(self.jobs) + 1}")
        parsed = {"BackupJobId": job_id, "CreationDate": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
                  "RecoveryPointArn": f"arn:aws:backup:us-east-1:123456789012:recovery-point:{job_id}",
                  "ResponseMetadata": {"HTTPStatusCode": 200}}
        headers: Any = {}
        return AWSResponse("https://backup.us-east-1.amazonaws.com", 200, headers, None), parsed


def install_fake_backup(ledger: Ledger) -> FakeBackup:
    """Answer opsfn's Backup client from a :class:`FakeBackup`."""
    from opsfn.services import aws

    fake = FakeBackup(ledger)
    aws.client("backup").meta.events.register_first("before-call.backup.StartBackupJob", fake)
    return fake
