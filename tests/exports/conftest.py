"""Fixtures of the exports tests: a source tree, a bucket, the lock table and the action queue."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from opsfn.core.app import App
from opsfn.services import aws
from opsfn.testing import Client
from tests.tables import create_table

BUCKET = "opsfn-sync-test"
QUEUE = "opsfn-actions"
LOCKS = "opsfn-locks"


@pytest.fixture
def exports_app() -> App:
    from opsfn.routes import exports

    return App([exports.router])


@pytest.fixture
def client(exports_app: App) -> Client:
    return Client(exports_app, timeout_ms=600_000)


@pytest.fixture
def aws_env(moto_aws: None, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Bucket, lock and idempotency tables and action queue in moto, named by the settings."""
    aws.client("s3").create_bucket(Bucket=BUCKET)
    create_table(LOCKS, "lockId", "expiresAt")
    create_table("exports-idempotency", "id", "expiration")
    url = aws.client("sqs").create_queue(QueueName=QUEUE)["QueueUrl"]
    monkeypatch.setenv("LOCK_TABLE", LOCKS)
    monkeypatch.setenv("IDEMPOTENCY_TABLE", "exports-idempotency")
    monkeypatch.setenv("OPSFN_ACTION_QUEUE", QUEUE)
    return {"bucket": BUCKET, "queue_url": url}


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, aws_env: dict[str, str]) -> Path:
    """A small nested source tree configured as SYNC_SOURCE_DIR."""
    root = tmp_path / "efs"
    files = {
        "a.txt": b"alpha", "a-b.txt": b"dash sorts before slash", "a/x.txt": b"x" * 100,
        "a/y/z.bin": os.urandom(3000), "b/c.txt": b"c", "top.txt": b"top",
    }
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (root / "a" / "x.txt").chmod(0o640)
    hour_ago = time.time_ns() - 3600 * 10**9  # files on a file system predate the sync
    for path in root.rglob("*"):
        os.utime(path, ns=(hour_ago, hour_ago))
    monkeypatch.setenv("SYNC_SOURCE_DIR", str(root))
    monkeypatch.setenv("SYNC_BUCKET", BUCKET)
    monkeypatch.setenv("SYNC_PREFIX", "efs/")
    return root


def bucket_keys(prefix: str = "efs/") -> dict[str, bytes]:
    """Every object under ``prefix`` with its body."""
    s3 = aws.client("s3")
    out: dict[str, bytes] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        for obj in page.get("Contents", []):
            out[obj["Key"]] = s3.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read()
    return out


@pytest.fixture
def s3_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Names of the S3 operations the sync's own client makes."""
    from opsfn.routes.exports.sync import uploader

    calls: list[str] = []
    real = uploader.s3_client

    def counting(pool: int) -> Any:
        client = real(pool)
        client.meta.events.register("before-call.s3", lambda model, **_: calls.append(model.name))
        return client

    monkeypatch.setattr(uploader, "s3_client", counting)
    yield calls


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.body


def fail_operation(monkeypatch: pytest.MonkeyPatch, operation: str, code: str, status: int
                   ) -> None:
    """Make the sync client's ``operation`` answer with an AWS error, as the service would.

    The answer comes from a ``before-send`` hook, where emulators and stubs answer requests, so it
    reaches both the SDK path and the lean PutObject path (and every retry).
    """
    from botocore.awsrequest import AWSResponse

    from opsfn.routes.exports.sync import uploader

    real = uploader.s3_client
    body = f"<Error><Code>{code}</Code><Message>injected</Message></Error>".encode()

    def answer(event_name: str, **_: Any) -> Any:
        if not event_name.endswith("." + operation):
            return None
        return AWSResponse("http://s3", status, {"Content-Type": "application/xml"}, _Raw(body))

    def failing(pool: int) -> Any:
        client = real(pool)
        client.meta.events.register_first("before-send.s3", answer)
        return client

    monkeypatch.setattr(uploader, "s3_client", failing)
    monkeypatch.setenv("OPSFN_AWS_MAX_ATTEMPTS", "2")


Unprivileged = Callable[[Callable[[], Any]], Any]

_CAP_VERSION_3 = 0x20080522
_DAC_CAPS = (1 << 1) | (1 << 2)  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH


def _caps() -> tuple[Any, Any, Any]:
    import ctypes

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                    ("inheritable", ctypes.c_uint32)]

    libc = ctypes.CDLL(None, use_errno=True)
    header, data = Header(_CAP_VERSION_3, 0), (Data * 2)()
    if libc.capget(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capget")
    return libc, header, data


@pytest.fixture
def as_nobody() -> Unprivileged:
    """Run a call without root's permission override, so file modes apply as to anyone else.

    Capabilities are per thread and inherited by threads created meanwhile (the upload pool).
    """

    def run(call: Callable[[], Any]) -> Any:
        if os.geteuid() != 0:
            return call()
        import ctypes

        libc, header, data = _caps()
        saved = data[0].effective
        data[0].effective = saved & ~_DAC_CAPS
        if libc.capset(ctypes.byref(header), data) != 0:
            pytest.skip("cannot drop capabilities here")
        try:
            return call()
        finally:
            data[0].effective = saved
            libc.capset(ctypes.byref(header), data)

    return run
