"""What an execution environment's process writes: its stdout and stderr line by line, and the
runtime's framed log events when it has Lambda's telemetry descriptor.

Collected in one reader thread, so a caller can ask for everything written before a moment
(:meth:`ProcessOutput.settle`) and take one invocation's lines without polling.
"""

from __future__ import annotations

import os
import selectors
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path


def max_rss_mb(pid: int | None) -> int | None:
    """A process's peak resident memory (``VmHWM``) in MB, as REPORT's Max Memory Used; None
    when unknown (not Linux, or the process is gone)."""
    if pid is None:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return max(1, int(line.split()[1]) // 1024)
    except (OSError, ValueError, IndexError):
        return None
    return None


FRAME_HEADER = 16  # type (4 bytes), length (4), timestamp in microseconds (8); big-endian


@dataclass(frozen=True, slots=True)
class Frame:
    """One log event the runtime wrote to the telemetry descriptor, as Lambda receives it."""

    frame_type: int  # 0xA55A0003 + level (text) or 0xA55A0002 + level (JSON)
    message: str

    @property
    def json(self) -> bool:
        """Whether the runtime marked it as a JSON log event."""
        return self.frame_type & 1 == 0


class ProcessOutput:
    """Reads the process's stdout and stderr into lines, and the runtime's telemetry frames when
    it has the descriptor; :meth:`settle` returns once every byte written before it was called has
    been read (the reader is woken through a pipe of its own, so an invocation's lines are
    complete without waiting for a poll interval)."""

    def __init__(self, process: subprocess.Popen[bytes], telemetry_fd: int | None = None) -> None:
        self.lines: list[str] = []
        self.frames: list[Frame] = []
        self._telemetry_fd = telemetry_fd
        self._partial: dict[int, bytes] = {}
        self._asked = 0  # settle() calls so far
        self._served = 0  # settle() calls whose bytes have all been read (-1: closed)
        self._changed = threading.Condition()
        self._selector = selectors.DefaultSelector()
        self._open = 0
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                os.set_blocking(stream.fileno(), False)
                self._selector.register(stream.fileno(), selectors.EVENT_READ)
                self._open += 1
        if telemetry_fd is not None:
            os.set_blocking(telemetry_fd, False)
            self._selector.register(telemetry_fd, selectors.EVENT_READ)
            self._open += 1
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        self._selector.register(self._wake_read, selectors.EVENT_READ)
        self._thread = threading.Thread(target=self._read, name="environment-output", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while self._open:
            asked = None
            for key, _ in self._selector.select(timeout=1.0):
                if key.fd == self._wake_read:
                    os.read(self._wake_read, 4096)
                    with self._changed:
                        asked = self._asked
                    continue
                self._drain(key.fd)
            if asked is not None:  # what was written before those calls is in the pipes now
                for key, _ in self._selector.select(timeout=0):
                    if key.fd != self._wake_read:
                        self._drain(key.fd)
                with self._changed:
                    self._served = max(self._served, asked)
                    self._changed.notify_all()
        with self._changed:
            self._served = -1  # closed: settle returns at once
            self._changed.notify_all()
        self._selector.close()
        os.close(self._wake_read)
        os.close(self._wake_write)
        if self._telemetry_fd is not None:
            os.close(self._telemetry_fd)

    def _drain(self, fd: int) -> None:
        while True:
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                return
            if not chunk:
                self._selector.unregister(fd)
                self._open -= 1
                self._take(fd, b"\n" if self._partial.get(fd) else b"")
                return
            self._take(fd, chunk)

    def _take(self, fd: int, chunk: bytes) -> None:
        if fd == self._telemetry_fd:
            self._take_frames(chunk)
            return
        data = self._partial.pop(fd, b"") + chunk
        *complete, rest = data.split(b"\n")
        if rest:
            self._partial[fd] = rest
        if complete:
            with self._changed:
                self.lines.extend(line.decode(errors="replace").rstrip("\r")
                                  for line in complete)

    def _take_frames(self, chunk: bytes) -> None:
        data = self._partial.pop(-1, b"") + chunk
        while len(data) >= FRAME_HEADER:
            length = int.from_bytes(data[4:8], "big")
            if len(data) < FRAME_HEADER + length:
                break
            frame = Frame(int.from_bytes(data[:4], "big"),
                          data[FRAME_HEADER:FRAME_HEADER + length].decode(errors="replace"))
            data = data[FRAME_HEADER + length:]
            with self._changed:
                self.frames.append(frame)
                self.lines.append(frame.message.rstrip("\n"))  # one event, even over lines
        if data:
            self._partial[-1] = data

    def settle(self, timeout: float = 1.0) -> None:
        """Return once what the process wrote before this call has been read."""
        with self._changed:
            if self._served < 0:
                return
            self._asked += 1
            ticket = self._asked
            try:
                os.write(self._wake_write, b"!")
            except OSError:
                return
            self._changed.wait_for(lambda: self._served < 0 or self._served >= ticket, timeout)

    def count(self) -> int:
        """Lines read so far."""
        with self._changed:
            return len(self.lines)

    def since(self, start: int) -> list[str]:
        """The lines read after the first ``start``."""
        with self._changed:
            return self.lines[start:]

    def frames_since(self, start: int) -> list[Frame]:
        """The telemetry frames read after the first ``start``."""
        with self._changed:
            return self.frames[start:]

    def frame_count(self) -> int:
        """Telemetry frames read so far."""
        with self._changed:
            return len(self.frames)
