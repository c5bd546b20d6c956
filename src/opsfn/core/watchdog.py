"""One long-lived thread that runs a callback if a deadline passes before it is cancelled.

Starting a thread per invocation costs hundreds of microseconds; the custom-resource guard needs a
deadline on every request, so one daemon thread serves them all. Lambda freezes the process
between invocations; a frozen wait simply resumes, and a cancelled deadline never fires.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Callable

LATE_TOLERANCE_S = 0.05  # a guard may fire this much late rather than wake the thread early


class Watchdog:
    """Deadlines with callbacks, checked by a single daemon thread started on first use.

    ``arm`` and ``cancel`` take no lock in the common case: a dict insert and a pop are atomic
    under the GIL, and the thread is only woken (under the lock) for a job due before the time
    it already plans to look. A version counter tells a thread about to sleep that a job arrived
    while it was planning, so no job is missed.
    """

    def __init__(self) -> None:
        self._condition = threading.Condition(threading.Lock())
        self._jobs: dict[int, tuple[float, Callable[[], object]]] = {}
        self._ids = itertools.count(1)
        self._version = 0
        self._wake_at = float("inf")  # when the thread will next look; earlier jobs must wake it
        self._thread: threading.Thread | None = None
        os.register_at_fork(after_in_child=self._forget_thread)

    def _forget_thread(self) -> None:
        """A forked child has no watchdog thread, and the parent's guards are not its own."""
        self._condition = threading.Condition(threading.Lock())
        self._jobs = {}
        self._wake_at = float("inf")
        self._thread = None

    def arm(self, delay_s: float, callback: Callable[[], object]) -> int:
        """Run ``callback`` in the watchdog thread after ``delay_s`` unless cancelled first."""
        at = time.monotonic() + max(delay_s, 0.0)
        job = next(self._ids)
        self._jobs[job] = (at, callback)
        self._version += 1
        # The same deadline read again through a millisecond clock is not sooner: no wake-up.
        if self._thread is None or at < self._wake_at - LATE_TOLERANCE_S:
            self._wake(at)
        return job

    def _wake(self, at: float) -> None:
        with self._condition:
            if self._thread is None or not self._thread.is_alive():
                self._wake_at = at
                thread = threading.Thread(target=self._run, name="opsfn-watchdog", daemon=True)
                thread.start()
                self._thread = thread
            elif at < self._wake_at - LATE_TOLERANCE_S:
                # The thread looks again by ``at`` even if the job is cancelled before it wakes.
                self._wake_at = at
                self._condition.notify()

    def cancel(self, job: int) -> None:
        """Forget ``job``; a callback already running is not interrupted."""
        self._jobs.pop(job, None)

    def _due(self) -> tuple[list[Callable[[], object]], float | None]:
        now = time.monotonic()
        jobs = list(self._jobs.copy().items())  # copy() runs no Python code: no switch midway
        callbacks = []
        for job, (at, callback) in jobs:
            if at <= now and self._jobs.pop(job, None) is not None:  # not cancelled meanwhile
                callbacks.append(callback)
        wait = min((at for _, (at, _) in jobs if at > now), default=None)
        return callbacks, None if wait is None else wait - now

    def _run(self) -> None:
        while True:
            try:
                self._serve()
            except Exception:  # noqa: BLE001 - the thread must outlive any one failure
                time.sleep(0.01)

    def _serve(self) -> None:
        while True:
            with self._condition:
                while True:
                    version = self._version
                    callbacks, wait = self._due()
                    if callbacks:
                        break
                    timeout = self._plan(wait)
                    if self._version == version:  # no job arrived while planning
                        self._condition.wait(timeout=timeout)
            for callback in callbacks:
                try:
                    callback()
                except Exception:  # noqa: BLE001, S112 - one failing guard must not stop the rest
                    continue

    def _plan(self, wait: float | None) -> float | None:
        """When to look next: the earliest job, or the last wake-up time when there is none.

        Keeping it means the next request's guard, due a little later than the one just
        cancelled, needs no notify (each wakes this thread: a context switch per request).
        """
        now = time.monotonic()
        if wait is not None:
            self._wake_at = now + wait
        elif self._wake_at <= now:
            self._wake_at = float("inf")
        return None if self._wake_at == float("inf") else self._wake_at - now


WATCHDOG = Watchdog()


def reset_watchdog() -> None:
    """Forget the thread and every deadline: a restored snapshot's clock and thread are not this
    environment's (SnapStart). The next ``arm`` starts a thread again."""
    WATCHDOG._forget_thread()  # the same reset a forked child gets
