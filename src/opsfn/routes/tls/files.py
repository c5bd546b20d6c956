"""File-system primitives for shared volumes (EFS): atomic replacement and a lock file.

A reader (the web container) must never see half a key, so every file is written to a temporary
file in the same directory, flushed to disk, and renamed over the target (rename is atomic on one
file system, EFS included). Two writers (a schedule run and a deploy run) must not interleave, so
they take a lock file created with ``O_CREAT | O_EXCL``, which NFSv4 (EFS) performs atomically on
the server. A holder that crashed leaves its lock behind; a lock older than ``stale_after`` seconds
is broken.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opsfn.errors import Conflict


def fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _stage(path: Path, data: bytes, mode: int) -> str:
    """Write ``data`` to a flushed temporary file next to ``path``; returns its name."""
    # O_EXCL on a random name is what tempfile.mkstemp does; its import is not needed for it
    temp = str(path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp"))
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, mode)  # before the first byte: a key is never readable by others
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            Path(temp).unlink()
        raise
    return temp


def _keep(path: Path) -> Path | None:
    """A hard link to the file now at ``path`` (the link itself for a symlink), or None."""
    backup = path.with_name(f".{path.name}.{uuid.uuid4().hex}.bak")
    try:
        os.link(path, backup, follow_symlinks=False)
    except FileNotFoundError:
        return None
    return backup


def _restore(replaced: list[tuple[Path, Path | None]]) -> None:
    """Put back what stood at each path before (or remove what had not existed), newest first."""
    for path, backup in reversed(replaced):
        with contextlib.suppress(OSError):
            if backup is not None:
                backup.replace(path)
            else:
                path.unlink(missing_ok=True)


def atomic_write_many(files: list[tuple[Path, bytes, int]]) -> None:
    """Replace each ``(path, data, mode)`` atomically; all data is on disk before the first rename.

    Staging everything first keeps the window in which a reader could see a new key next to the
    old certificate down to a few renames. A rename that fails part-way puts the files already
    replaced back as they were, so a key never stays next to a certificate it does not match.
    A symlink at a path is replaced, never written through.
    """
    staged: list[tuple[str, Path]] = []
    replaced: list[tuple[Path, Path | None]] = []
    try:
        for path, data, mode in files:
            staged.append((_stage(path, data, mode), path))
        try:
            for temp, path in staged:
                replaced.append((path, _keep(path)))
                Path(temp).replace(path)
        except BaseException:
            _restore(replaced)
            raise
    finally:
        for temp, _ in staged:
            with contextlib.suppress(FileNotFoundError):
                Path(temp).unlink()
        for _, backup in replaced:
            if backup is not None:
                with contextlib.suppress(OSError):
                    backup.unlink()
    for directory in {path.parent for _, path in staged}:
        fsync_dir(directory)


def read_bytes(path: Path) -> bytes | None:
    """The content of a regular file, or None when it is missing or not a readable file.

    PermissionError passes through: a key the function may not read is not a missing key.
    """
    try:
        return path.read_bytes()
    except PermissionError:
        raise
    except OSError:
        return None


@dataclass
class FileLock:
    """A lock file: one holder at a time; a holder silent for ``stale_after`` seconds loses it."""

    path: Path
    stale_after: float
    wait: float = 0.0
    poll: float = 0.2
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    broke_stale: bool = False

    def _try_create(self) -> bool:
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            return False
        record = {"token": self.token, "created": self.clock(), "pid": os.getpid(),
                  "host": os.uname().nodename[:64]}
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(record, handle)
                handle.flush()
                os.fsync(handle.fileno())
        except BaseException:
            # A lock this run could not record would block every run until it turns stale.
            with contextlib.suppress(OSError):
                self.path.unlink()
            raise
        return True

    def _holder(self) -> tuple[str | None, float] | None:
        """(token, created) of the current lock, None if there is none; unreadable -> mtime."""
        try:
            text = self.path.read_text()
            stat = self.path.stat()
        except FileNotFoundError:
            return None
        except OSError:
            return None, 0.0
        try:
            record: Any = json.loads(text)
            return str(record["token"]), float(record["created"])
        except (ValueError, KeyError, TypeError):
            # A crash between create and write leaves an empty file: judge it by its age.
            return None, stat.st_mtime

    def _break(self, stale_token: str | None) -> None:
        """Remove a stale lock; if a live lock replaced it meanwhile, put that one back."""
        aside = self.path.with_name(f"{self.path.name}.stale-{uuid.uuid4().hex}")
        try:
            self.path.rename(aside)
        except FileNotFoundError:
            return
        try:
            record = json.loads(aside.read_text() or "{}")
            taken = record.get("token") if isinstance(record, dict) else None
        except (OSError, ValueError):
            taken = None
        if taken != stale_token:
            with contextlib.suppress(OSError):
                os.link(aside, self.path)  # restore the live lock we moved by mistake
        with contextlib.suppress(OSError):
            aside.unlink()
        self.broke_stale = True

    def acquire(self) -> None:
        """Take the lock, waiting up to ``wait`` seconds; Conflict when another run keeps it."""
        give_up = time.monotonic() + self.wait
        while True:
            if self._try_create():
                return
            holder = self._holder()
            if holder is not None and self.clock() - holder[1] > self.stale_after:
                self._break(holder[0])
                continue
            if time.monotonic() >= give_up:
                raise Conflict("another run holds the lock on the TLS directory; try again later")
            self.sleep(self.poll)

    def release(self) -> None:
        """Remove the lock if it is still ours (a lock broken as stale may belong to another run)."""
        holder = self._holder()
        if holder is not None and holder[0] == self.token:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()

    @contextlib.contextmanager
    def held(self) -> Iterator[FileLock]:
        """``with lock.held():`` around the critical section."""
        self.acquire()
        try:
            yield self
        finally:
            self.release()
