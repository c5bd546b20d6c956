"""A timer for the custom-resource guard: run a callback if a deadline passes before it is cancelled.

One daemon thread serves every deadline, because starting a ``threading.Timer`` per request costs
about 110-150 us (``bench/watchdog.py``: a hundred times arming and cancelling here, and ten times
dispatching the whole event). Every change to the
table of deadlines happens under one lock, and the thread plans its next look under the same lock,
so nothing depends on the interpreter's atomicity. A callback is taken out of the table (under the
lock) before it runs: it runs at most once, and a cancelled one never. Lambda freezes the process
between invocations; a frozen wait simply resumes.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

from opsfn.core import snapstart

LATE_TOLERANCE_S = 0.05  # a guard may fire this much late rather than wake the thread early
_NEVER = float("inf")


class Watchdog:
    """Deadlines with callbacks, checked by a single daemon thread started on first use."""

    def __init__(self) -> None:
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        """No thread and no deadlines (a forked child has neither: the parent's are not its own)."""
        self._lock = threading.Lock()
        self._wakeup = threading.Condition(self._lock)
        self._jobs: dict[int, tuple[float, Callable[[], object]]] = {}
        self._last_id = 0
        self._looks_at = _NEVER  # when the thread looks next; an earlier deadline must wake it
        self._thread: threading.Thread | None = None

    def arm(self, delay_s: float, callback: Callable[[], object]) -> int:
        """Run ``callback`` in the watchdog thread after ``delay_s`` unless cancelled first."""
        at = time.monotonic() + max(delay_s, 0.0)
        with self._lock:
            self._last_id += 1
            job = self._last_id
            self._jobs[job] = (at, callback)
            if self._thread is None or not self._thread.is_alive():
                self._looks_at = at
                self._thread = threading.Thread(target=self._run, name="opsfn-watchdog",
                                                daemon=True)
                self._thread.start()
            elif at < self._looks_at - LATE_TOLERANCE_S:
                self._looks_at = at
                self._wakeup.notify()
        return job

    def cancel(self, job: int) -> None:
        """Forget ``job``; a callback already running is not interrupted."""
        with self._lock:
            self._jobs.pop(job, None)

    def _take_due(self, now: float) -> list[Callable[[], object]]:
        """Remove and return the callbacks whose deadline has passed (the lock is held)."""
        due = [job for job, (at, _) in self._jobs.items() if at <= now]
        return [self._jobs.pop(job)[1] for job in due]

    def _plan(self, now: float) -> float | None:
        """Seconds until the next look (None: until woken); the lock is held.

        With no deadline left the thread keeps its last planned look: the next request's guard,
        due a little later than the one just cancelled, then needs no wake-up (a context switch
        per request otherwise).
        """
        upcoming = min((at for at, _ in self._jobs.values()), default=None)
        if upcoming is not None:
            self._looks_at = upcoming
        elif self._looks_at <= now:
            self._looks_at = _NEVER
        return None if self._looks_at == _NEVER else self._looks_at - now

    def _run(self) -> None:
        while True:
            try:
                self._serve_once()
            except Exception:  # noqa: BLE001 - the guards of later requests need this thread
                time.sleep(0.01)

    def _serve_once(self) -> None:
        """Wait for the next deadline, then run what is due."""
        with self._lock:
            now = time.monotonic()
            due = self._take_due(now)
            if not due:
                self._wakeup.wait(timeout=self._plan(now))
                return
        for callback in due:
            try:
                callback()
            except Exception:  # noqa: BLE001, S112 - one failing guard must not stop the rest
                continue


WATCHDOG = Watchdog()


@snapstart.on_restore
def reset_watchdog() -> None:
    """Forget the thread and every deadline: a restored snapshot's clock and thread are not this
    environment's (SnapStart). The next ``arm`` starts a thread again."""
    WATCHDOG._reset()  # the same reset a forked child gets
