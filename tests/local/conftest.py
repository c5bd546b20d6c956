"""One `opsfn local` process per test session, on free ports, driven over HTTP."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LocalRun:
    """The running stack: its URL, process and log file."""

    url: str
    process: subprocess.Popen[str]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text()

    def info(self) -> dict:
        with urllib.request.urlopen(f"{self.url}/_local/info", timeout=5) as reply:
            return json.loads(reply.read())

    def stop(self, timeout: float = 20) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=timeout)


ROOT = Path(__file__).resolve().parents[2]


def prepare_lambda_runtime() -> None:
    """What opsfn local builds on its first start to run the function under awslambdaric (the
    locked libraries for Python 3.13, cached), built before a stack's start-up deadline runs."""
    from opsfn.tooling.local.code_dir import function_dependencies
    from opsfn.tooling.local.lambda_python import RuntimeUnavailable, find_lambda_python

    try:
        function_dependencies(interpreter=find_lambda_python().interpreter)
    except RuntimeUnavailable:
        pass  # opsfn local then says why and calls the handler in its own process


def start_local(workdir: Path, *args: str, pythonpath: tuple[str, ...] = ()) -> LocalRun:
    """`opsfn local` on free ports in ``workdir``, ready (custom resources done) when returned."""
    if "--in-process" not in args:
        prepare_lambda_runtime()
    port = free_port()
    paths = (*pythonpath, str(ROOT), os.environ.get("PYTHONPATH"))
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
           "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
           "PYTHONPATH": os.pathsep.join(p for p in paths if p)}
    env.pop("AWS_ENDPOINT_URL", None)
    env.pop("AWS_SESSION_TOKEN", None)
    env.pop("OPSFN_APP", None)
    log_path = workdir / "local.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "opsfn.tooling.cli", "local", "--port", str(port), "--moto-port", "0",
             "--no-schedules", "--state-dir", str(workdir / "state"), *args],
            stdout=log, stderr=subprocess.STDOUT, text=True, env=env, cwd=workdir)
    run = LocalRun(f"http://127.0.0.1:{port}", process, log_path)
    deadline = time.monotonic() + 120
    while True:
        if process.poll() is not None:
            raise AssertionError(f"opsfn local exited early:\n{run.log()[-3000:]}")
        try:
            if run.info().get("ready"):
                return run
        except OSError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"opsfn local did not get ready:\n{run.log()[-3000:]}")
        time.sleep(0.3)


def _finish(run: LocalRun) -> None:
    if run.process.poll() is None:
        run.process.kill()
        run.process.wait(timeout=10)


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRun]:
    """The built-in app on infra/template.yaml."""
    run = start_local(tmp_path_factory.mktemp("local"))
    yield run
    _finish(run)


@pytest.fixture(scope="session")
def app_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRun]:
    """tests/local/stack_app.py on its own template, with fast retries, and a front end of its
    own under /site (``--static``)."""
    workdir = tmp_path_factory.mktemp("app-stack")
    site = workdir / "site"
    (site / "nested").mkdir(parents=True)
    (site / "index.html").write_text("<!doctype html><title>own page</title><p>own front end")
    (site / "nested" / "app.js").write_text("console.log('hello');")
    (workdir / "secret.txt").write_text("outside the mount")
    run = start_local(workdir, "--app", "tests.local.stack_app:app", "--template",
                      str(ROOT / "tests" / "local" / "stack_template.yaml"),
                      "--visibility-timeout", "1", "--async-retry-seconds", "0.2",
                      "--static", f"{site}:/site")
    yield run
    _finish(run)


def aws_client(run: LocalRun, service: str, endpoint: str | None = None) -> Any:
    """A boto3 client of the stack's emulator (or of ``endpoint``, e.g. the stack's own URL)."""
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(aws_access_key_id="local", aws_secret_access_key="local",
                                    region_name="us-east-1")
    return session.client(service, endpoint_url=endpoint or run.info()["endpoint"],
                          config=Config(retries={"max_attempts": 1}, read_timeout=120))


def activity(run: LocalRun, after: int = 0) -> list[dict[str, Any]]:
    """The stack's activity entries after ``after``."""
    with urllib.request.urlopen(f"{run.url}/_local/activity?after={after}", timeout=10) as reply:
        return list(json.loads(reply.read())["entries"])


def wait_for(predicate: Any, timeout: float = 30, interval: float = 0.2) -> Any:
    """The first truthy value of ``predicate()``, or an AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval)
