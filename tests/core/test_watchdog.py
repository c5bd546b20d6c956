"""The shared deadline thread: fires due callbacks once, never cancelled ones."""

from __future__ import annotations

import threading
import time
from typing import Any

from opsfn.core.watchdog import Watchdog


def test_fires_due_and_skips_cancelled() -> None:
    dog = Watchdog()
    fired: list[str] = []
    done = threading.Event()
    late = dog.arm(5.0, lambda: fired.append("late"))
    cancelled = dog.arm(0.05, lambda: fired.append("cancelled"))
    dog.cancel(cancelled)
    dog.arm(0.1, lambda: (fired.append("soon"), done.set()))
    assert done.wait(2.0)
    time.sleep(0.1)
    dog.cancel(late)
    assert fired == ["soon"]


def test_a_failing_callback_does_not_stop_the_thread() -> None:
    dog = Watchdog()
    done = threading.Event()
    dog.arm(0.0, lambda: 1 / 0)
    dog.arm(0.05, done.set)
    assert done.wait(2.0)


def test_earlier_job_wakes_a_sleeping_thread() -> None:
    dog = Watchdog()
    dog.arm(60.0, lambda: None)
    time.sleep(0.05)  # the thread now sleeps for a minute
    done = threading.Event()
    started = time.monotonic()
    dog.arm(0.05, done.set)
    assert done.wait(2.0)
    assert time.monotonic() - started < 1.0


def test_guards_cancelled_per_request_do_not_wake_the_thread_each_time() -> None:
    """Each request arms a guard a little later than the last one and cancels it; a notify per
    request would cost a context switch per request."""
    dog = Watchdog()
    wakes = 0
    notify = dog._wakeup.notify

    def counting_notify(n: int = 1) -> None:
        nonlocal wakes
        wakes += 1
        notify(n)

    dog._wakeup.notify = counting_notify  # type: ignore[method-assign]
    for _ in range(200):
        dog.cancel(dog.arm(600.0, lambda: None))
        time.sleep(0.0005)
    assert wakes <= 2


def test_a_guard_after_idle_still_fires_on_time() -> None:
    """The thread keeps its last wake-up time when idle; an earlier guard must still wake it."""
    dog = Watchdog()
    dog.cancel(dog.arm(600.0, lambda: None))
    time.sleep(0.05)
    done = threading.Event()
    started = time.monotonic()
    dog.arm(0.05, done.set)
    assert done.wait(2.0)
    assert time.monotonic() - started < 1.0


def test_jobs_armed_from_many_threads_fire_once_and_cancelled_ones_never() -> None:
    """A job armed while the thread plans its sleep must still fire; none fires twice."""
    import random

    dog = Watchdog()
    fired: dict[int, int] = {}
    count_lock = threading.Lock()
    expected: list[int] = []
    cancelled: list[int] = []

    def record(tag: int) -> None:
        with count_lock:
            fired[tag] = fired.get(tag, 0) + 1

    def worker(seed: int) -> None:
        rnd = random.Random(seed)
        for index in range(60):
            tag = seed * 1000 + index
            job = dog.arm(rnd.uniform(0.0, 0.15), lambda tag=tag: record(tag))
            if rnd.random() < 0.4:
                dog.cancel(job)  # may lose to a job already due (delay near 0), never twice
                cancelled.append(tag)
            else:
                expected.append(tag)
            time.sleep(rnd.uniform(0, 0.002))

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline and not all(tag in fired for tag in expected):
        time.sleep(0.02)
    assert all(fired.get(tag) == 1 for tag in expected)
    # A cancel can lose only to a job already due (delay ~0): never a second call.
    assert all(fired.get(tag, 0) <= 1 for tag in cancelled)


def test_a_forked_child_never_fires_the_parents_guards() -> None:
    import os

    dog = Watchdog()
    fired: list[str] = []
    dog.arm(0.2, lambda: fired.append("parent"))  # still pending at the fork
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: arm its own guard, outlive the parent's, report what fired
        try:
            done = threading.Event()
            dog.arm(0.3, lambda: (fired.append("child"), done.set()))
            done.wait(2.0)
            time.sleep(0.1)
            os.write(write, ",".join(sorted(fired)).encode() or b"-")
        finally:
            os._exit(0)
    os.close(write)
    give_up = time.monotonic() + 10.0
    while os.waitpid(pid, os.WNOHANG) == (0, 0):  # never hang the suite on a stuck child
        if time.monotonic() > give_up:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            raise AssertionError("the forked child did not finish")
        time.sleep(0.02)
    assert os.read(read, 100) == b"child"


def test_the_thread_survives_a_failure_while_planning(monkeypatch: Any) -> None:
    dog = Watchdog()
    real_take = dog._take_due
    calls = {"n": 0}

    def failing_once(now: float) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("an unexpected failure while planning")
        return real_take(now)

    monkeypatch.setattr(dog, "_take_due", failing_once)
    done = threading.Event()
    dog.arm(0.05, done.set)
    assert done.wait(2.0) and calls["n"] > 1


def test_every_change_to_the_table_holds_the_lock() -> None:
    """arm and cancel wait for a thread that holds the lock: nothing relies on atomic dict ops."""
    dog = Watchdog()
    job = dog.arm(600.0, lambda: None)
    entered = threading.Event()
    finished: list[str] = []

    def cancel_later() -> None:
        entered.set()
        dog.cancel(job)
        finished.append("cancel")

    with dog._lock:
        worker = threading.Thread(target=cancel_later)
        worker.start()
        assert entered.wait(1.0)
        time.sleep(0.05)
        assert finished == []  # blocked on the lock
        assert job in dog._jobs
    worker.join(1.0)
    assert finished == ["cancel"] and job not in dog._jobs
