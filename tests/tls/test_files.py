"""Atomic replacement and the lock file on the TLS directory."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

import pytest

from opsfn.errors import Conflict
from opsfn.routes.tls.files import FileLock, atomic_write_many


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_atomic_write_sets_mode_and_leaves_no_temp(tmp_path: Path) -> None:
    key, cert = tmp_path / "k.pem", tmp_path / "c.pem"
    atomic_write_many([(key, b"key", 0o600), (cert, b"cert", 0o644)])
    assert (key.read_bytes(), cert.read_bytes()) == (b"key", b"cert")
    assert (_mode(key), _mode(cert)) == (0o600, 0o644)
    atomic_write_many([(key, b"key2", 0o600)])
    assert key.read_bytes() == b"key2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.pem", "k.pem"]


def test_atomic_write_replaces_a_symlink_instead_of_writing_through(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.pem"
    target.write_bytes(b"untouched")
    link = tmp_path / "webserver.key.pem"
    link.symlink_to(target)
    atomic_write_many([(link, b"new", 0o600)])
    assert not link.is_symlink() and link.read_bytes() == b"new"
    assert target.read_bytes() == b"untouched"


def test_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "k.pem"
    path.write_bytes(b"old")
    with pytest.raises(FileNotFoundError):
        atomic_write_many([(path, b"new", 0o600), (tmp_path / "missing" / "x", b"y", 0o600)])
    assert path.read_bytes() == b"old"  # nothing renamed: staging failed before the first rename
    assert [p.name for p in tmp_path.iterdir()] == ["k.pem"]


def test_lock_is_exclusive_and_released(tmp_path: Path) -> None:
    path = tmp_path / ".lock"
    first = FileLock(path, stale_after=300)
    first.acquire()
    with pytest.raises(Conflict):
        FileLock(path, stale_after=300, wait=0).acquire()
    record = json.loads(path.read_text())
    assert record["token"] == first.token and record["pid"] == os.getpid()
    first.release()
    assert not path.exists()
    with FileLock(path, stale_after=300).held():
        assert path.exists()
    assert not path.exists()


def test_waiting_for_a_lock_that_is_released(tmp_path: Path) -> None:
    path = tmp_path / ".lock"
    holder = FileLock(path, stale_after=300)
    holder.acquire()
    waiter = FileLock(path, stale_after=300, wait=5, poll=0.01, sleep=lambda _: holder.release())
    waiter.acquire()  # the first poll sleeps, the holder lets go, the retry wins
    assert json.loads(path.read_text())["token"] == waiter.token


def test_stale_lock_is_broken(tmp_path: Path) -> None:
    path = tmp_path / ".lock"
    path.write_text(json.dumps({"token": "crashed", "created": time.time() - 600}))
    lock = FileLock(path, stale_after=300, wait=0)
    lock.acquire()
    assert lock.broke_stale
    assert json.loads(path.read_text())["token"] == lock.token
    assert [p.name for p in tmp_path.iterdir()] == [".lock"]  # the set-aside copy is gone


def test_fresh_lock_is_not_broken(tmp_path: Path) -> None:
    path = tmp_path / ".lock"
    path.write_text(json.dumps({"token": "busy", "created": time.time() - 10}))
    with pytest.raises(Conflict):
        FileLock(path, stale_after=300, wait=0).acquire()
    assert json.loads(path.read_text())["token"] == "busy"


def test_empty_lock_file_is_judged_by_its_age(tmp_path: Path) -> None:
    path = tmp_path / ".lock"
    path.write_text("")  # a holder that died between create and write
    with pytest.raises(Conflict):
        FileLock(path, stale_after=300, wait=0).acquire()
    old = time.time() - 900
    os.utime(path, (old, old))
    lock = FileLock(path, stale_after=300, wait=0)
    lock.acquire()
    assert lock.broke_stale


def test_release_leaves_someone_elses_lock(tmp_path: Path) -> None:
    path = tmp_path / ".lock"
    slow = FileLock(path, stale_after=300)
    slow.acquire()
    path.write_text(json.dumps({"token": "new-holder", "created": time.time()}))
    slow.release()
    assert json.loads(path.read_text())["token"] == "new-holder"


def test_breaking_restores_a_live_lock_taken_by_mistake(tmp_path: Path) -> None:
    path = tmp_path / ".lock"
    path.write_text(json.dumps({"token": "live", "created": time.time()}))
    lock = FileLock(path, stale_after=300)
    lock._break("some-stale-token-seen-earlier")  # the stale lock was replaced meanwhile
    assert json.loads(path.read_text())["token"] == "live"
