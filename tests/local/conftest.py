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


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRun]:
    workdir = tmp_path_factory.mktemp("local")
    port = free_port()
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
           "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1"}
    env.pop("AWS_ENDPOINT_URL", None)
    env.pop("AWS_SESSION_TOKEN", None)
    log_path = workdir / "local.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "opsfn.tooling.cli", "local", "--port", str(port), "--moto-port", "0",
             "--no-schedules", "--state-dir", str(workdir / "state")],
            stdout=log, stderr=subprocess.STDOUT, text=True, env=env, cwd=workdir)
    run = LocalRun(f"http://127.0.0.1:{port}", process, log_path)
    deadline = time.monotonic() + 120
    while True:
        if process.poll() is not None:
            raise AssertionError(f"opsfn local exited early:\n{run.log()[-3000:]}")
        try:
            if run.info().get("ready"):
                break
        except OSError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"opsfn local did not get ready:\n{run.log()[-3000:]}")
        time.sleep(0.3)
    yield run
    if process.poll() is None:
        process.kill()
        process.wait(timeout=10)
