"""One sandbox child: how it is started, its environment, its pipes and its end.

The child is a fresh interpreter started by exec (``subprocess`` with ``close_fds``, no
``preexec_fn``, so CPython may use vfork/posix_spawn and nothing of the parent's memory, threads
or open descriptors carries over beyond the two pipes). ``-I`` ignores every ``PYTHON*`` variable
and the user site; ``-B`` writes no bytecode, so a read-only code directory is fine. The import
path is the parent's own ``sys.path``, passed as an argument (``PYTHONPATH`` would be ignored
under ``-I``), so the child imports exactly the code the parent runs. The environment is built
from an allow-list and never carries an ``AWS_*`` variable. Each child gets a private temporary
directory as ``TMPDIR``, ``HOME`` and working directory, removed when it is closed.
"""

from __future__ import annotations

import ctypes
import functools
import json
import os
import selectors
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from opsfn.routes.imaging.sandbox.protocol import READY, TMPDIR_PREFIX

MiB = 1024 * 1024
ALLOWED_ENVIRONMENT = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "LD_LIBRARY_PATH",
                       "LAMBDA_TASK_ROOT", "TZ")
# One thread each: numpy's BLAS would otherwise start a thread per core (and reserve address
# space for each), which the address-space limit would then have to allow for.
SINGLE_THREADED = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
BOOTSTRAP = (
    "import sys\n"
    "sys.path[:0] = [p for p in sys.argv[1].split(sys.argv[2]) if p]\n"
    "from opsfn.routes.imaging.sandbox.child import main\n"
    "main(sys.argv[3])\n"
)
_CHUNK = 1 << 20
PR_GET_DUMPABLE, PR_SET_DUMPABLE = 3, 4


@dataclass(frozen=True, slots=True)
class Limits:
    """What the child's own first lines apply (``child.apply_limits``)."""

    address_space: int
    cpu_s: int
    file_size: int = 64 * MiB
    open_files: int = 64


class TimedOut(Exception):
    """The child did not answer before the deadline (it has been killed)."""


class Overflow(Exception):
    """The child wrote more than its reply may hold (it has been killed)."""


@functools.cache
def protect_parent() -> bool:
    """Make this (credentialed) process non-dumpable, once, before its first child starts.

    The child runs as the same user, and Linux lets a process of the same user read another's
    ``/proc/<pid>/environ`` and ``mem`` (where the AWS credentials are) only while that one is
    dumpable. Non-dumpable, those files belong to root and ptrace is refused, which also means no
    core dump of the function process. True when the flag is set.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def child_environment(source: Mapping[str, str], tmpdir: str) -> dict[str, str]:
    """The allow-listed variables of ``source``, a private TMPDIR/HOME, single-threaded BLAS."""
    env = {name: source[name] for name in ALLOWED_ENVIRONMENT
           if name in source and not name.startswith("AWS_")}
    env.setdefault("PATH", os.defpath)
    env.update(SINGLE_THREADED, TMPDIR=tmpdir, HOME=tmpdir)
    return env


def command(limits: Limits) -> list[str]:
    """The child's argv: the interpreter in isolated mode, the bootstrap, paths and limits."""
    paths = [entry for entry in sys.path if entry and Path(entry).is_dir()]
    return [sys.executable, "-I", "-B", "-c", BOOTSTRAP, os.pathsep.join(paths), os.pathsep,
            json.dumps(asdict(limits))]


class Worker:
    """A started child, used for at most one upload, then closed (killed if needed, reaped,
    its temporary directory removed)."""

    def __init__(self, limits: Limits) -> None:
        protect_parent()
        self.limits = limits
        self.tmpdir = tempfile.mkdtemp(prefix=TMPDIR_PREFIX)
        try:
            self.proc = subprocess.Popen(  # noqa: S603 - our interpreter, fixed arguments
                command(limits), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL, env=child_environment(os.environ, self.tmpdir),
                cwd=self.tmpdir, close_fds=True)
        except BaseException:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            raise
        self.ready = False

    @property
    def pid(self) -> int:
        """The child's process id."""
        return self.proc.pid

    def alive(self) -> bool:
        """True while the child has not exited."""
        return self.proc.poll() is None

    def wait_ready(self, timeout: float) -> bool:
        """Wait for the ready byte (imports done); False when it did not come in time."""
        if self.ready:
            return True
        assert self.proc.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self.proc.stdout.fileno(), selectors.EVENT_READ)
            if not selector.select(timeout):
                return False
        self.ready = os.read(self.proc.stdout.fileno(), 1) == READY
        return self.ready

    def exchange(self, parts: list[bytes], deadline: float, limit: int) -> bytes:
        """Write ``parts`` while reading everything the child writes until it closes its end;
        the reply without the ready byte (``ready`` says whether it came). TimedOut or Overflow
        (child killed) otherwise."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        out_fd, in_fd = self.proc.stdin.fileno(), self.proc.stdout.fileno()
        os.set_blocking(out_fd, False)
        pending = [memoryview(part) for part in parts if part]
        received = bytearray()
        with selectors.DefaultSelector() as selector:
            selector.register(in_fd, selectors.EVENT_READ)
            if pending:
                selector.register(out_fd, selectors.EVENT_WRITE)
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self.kill()
                    raise TimedOut
                for key, _ in selector.select(remaining):
                    if key.fd == out_fd:
                        if self._write(out_fd, pending):
                            selector.unregister(out_fd)
                            self.proc.stdin.close()
                        continue
                    piece = os.read(in_fd, _CHUNK)
                    if not piece:
                        return bytes(received)
                    received += piece
                    self._take_ready(received)
                    if len(received) > limit:
                        self.kill()
                        raise Overflow

    @staticmethod
    def _write(fd: int, pending: list[memoryview]) -> bool:
        """Write what the pipe takes; True when everything is written or the child is gone."""
        try:
            written = os.write(fd, pending[0][:_CHUNK])
        except BlockingIOError:
            return False
        except BrokenPipeError:
            pending.clear()
            return True
        pending[0] = pending[0][written:]
        if not pending[0]:
            pending.pop(0)
        return not pending

    def _take_ready(self, received: bytearray) -> None:
        """Consume the ready byte at the start of the stream, once."""
        if not self.ready and received[:1] == READY:
            self.ready = True
            del received[:1]

    def finish(self, deadline: float) -> int:
        """The child's exit status (negative: the signal that ended it); killed at the deadline."""
        try:
            return self.proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.kill()
            raise TimedOut from None

    def kill(self) -> None:
        """SIGKILL the child and reap it."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def close(self) -> None:
        """Kill (if still running) and reap the child, close the pipes, remove its TMPDIR."""
        try:
            self.kill()
        finally:
            for stream in (self.proc.stdin, self.proc.stdout):
                if stream is not None:
                    stream.close()
            shutil.rmtree(self.tmpdir, ignore_errors=True)
