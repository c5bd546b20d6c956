"""One long-lived thread that runs a callback if a deadline passes before it is cancelled.

Starting a thread per invocation costs hundreds of microseconds; the custom-resource guard needs a
deadline on every request, so one daemon thread serves them all. Lambda freezes the process
between invocations; a frozen wait simply resumes, and a cancelled deadline never fires.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

LATE_TOLERANCE_S = 0.05  # a guard may fire this much late rather than wake the thread early


class Watchdog:
    """Deadlines with callbacks, checked by a single daemon thread started on first use."""

    def __init__(self) -> None:
        self._condition = threading.Condition(threading.Lock())
        self._jobs: dict[int, tuple[float, Callable[[], object]]] = {}
        self._next_id = 0
        self._wake_at = float("inf")  # when the thread will next look; earlier jobs must wake it
        self._thread: threading.Thread | None = None
        os.register_at_fork(after_in_child=self._forget_thread)

    def _forget_thread(self) -> None:
        """A forked child has no watchdog thread: the next arm starts one."""
        self._condition = threading.Condition(threading.Lock())
        self._thread = None

    def arm(self, delay_s: float, callback: Callable[[], object]) -> int:
        """Run ``callback`` in the watchdog thread after ``delay_s`` unless cancelled first."""
        at = time.monotonic() + max(delay_s, 0.0)
        with self._condition:
            self._next_id += 1
            job = self._next_id
            self._jobs[job] = (at, callback)
            if self._thread is None:
                self._wake_at = at
                self._thread = threading.Thread(target=self._run, name="opsfn-watchdog",
                                                daemon=True)
                self._thread.start()
            elif at < self._wake_at - LATE_TOLERANCE_S:
                # Waking the thread costs a context switch: only when this job is due sooner
                # (the same deadline read again through a millisecond clock is not sooner).
                # The thread looks again by ``at`` even if the job is cancelled before it wakes.
                self._wake_at = at
                self._condition.notify()
        return job

    def cancel(self, job: int) -> None:
        """Forget ``job``; a callback already running is not interrupted."""
        with self._condition:
            self._jobs.pop(job, None)

    def _due(self) -> tuple[list[Callable[[], object]], float | None]:
        now = time.monotonic()
        due = [job for job, (at, _) in self._jobs.items() if at <= now]
        callbacks = [self._jobs.pop(job)[1] for job in due]
        wait = min((at for at, _ in self._jobs.values()), default=None)
        return callbacks, None if wait is None else max(wait - now, 0.0)

    def _run(self) -> None:
        while True:
            with self._condition:
                callbacks, wait = self._due()
                while not callbacks:
                    self._sleep(wait)
                    callbacks, wait = self._due()
            for callback in callbacks:
                try:
                    callback()
                except Exception:  # noqa: BLE001, S112 - one failing guard must not stop the rest
                    continue

    def _sleep(self, wait: float | None) -> None:
        """Wait until the earliest job, or keep the last wake-up time when there is none.

        Keeping it means the next request's guard, due a little later than the one just
        cancelled, needs no notify (each wakes this thread: a context switch per request).
        """
        now = time.monotonic()
        if wait is not None:
            self._wake_at = now + wait
        elif self._wake_at <= now:
            self._wake_at = float("inf")
        timeout = None if self._wake_at == float("inf") else self._wake_at - now
        self._condition.wait(timeout=timeout)


WATCHDOG = Watchdog()
