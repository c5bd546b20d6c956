"""SnapStart hooks: called the way the runtime calls them, nothing stale survives a restore."""

from __future__ import annotations

import random
import sys
import threading
import types
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from opsfn.core import snapstart
from opsfn.core.app import DISPATCH_HOMES, App
from opsfn.core.settings import CoreSettings, core_settings
from opsfn.core.watchdog import WATCHDOG
from opsfn.routes.imaging.settings import ImagingSettings
from opsfn.routes.manifest import load
from opsfn.services import aws


@pytest.fixture
def fresh_app() -> App:
    return App([load()])


@pytest.fixture
def runtime_hooks(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, list[Callable[[], Any]]]]:
    """A stand-in for the runtime's snapshot_restore_py: it records what is registered."""
    registered: dict[str, list[Callable[[], Any]]] = {"before": [], "after": []}
    module = types.ModuleType("snapshot_restore_py")
    module.register_before_snapshot = registered["before"].append  # type: ignore[attr-defined]
    module.register_after_restore = registered["after"].append  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", module)
    yield registered


def test_hooks_are_registered_only_in_a_snapshot_init(fresh_app: App,
                                                      runtime_hooks: dict[str, list[Any]]) -> None:
    assert snapstart.register(fresh_app, {}) is False
    assert snapstart.register(fresh_app, {"AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand"}) is False
    assert runtime_hooks == {"before": [], "after": []}
    assert snapstart.register(fresh_app, {"AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start"}) is True
    assert len(runtime_hooks["before"]) == len(runtime_hooks["after"]) == 1


def test_without_the_runtime_library_nothing_is_registered(fresh_app: App,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", None)  # import raises ImportError
    assert snapstart.register(fresh_app, {"AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start"}) is False


def test_the_handler_module_registers_with_the_runtime(
        runtime_hooks: dict[str, list[Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    import opsfn.handler

    monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", "snap-start")
    try:
        reloaded = importlib.reload(opsfn.handler)
        assert len(runtime_hooks["before"]) == 1
        runtime_hooks["after"][0]()
        assert reloaded.app._cold is True
    finally:
        monkeypatch.delenv("AWS_LAMBDA_INITIALIZATION_TYPE")
        importlib.reload(opsfn.handler)


def test_before_snapshot_loads_every_route_and_keeps_nothing_per_environment(
        fresh_app: App, runtime_hooks: dict[str, list[Any]]) -> None:
    aws.reset()
    snapstart.register(fresh_app, {"AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start"})
    runtime_hooks["before"][0]()
    for route in fresh_app.registry.routes:
        assert route.binder is not None, route.label
        assert route.func.__module__ in sys.modules
        assert not hasattr(route.func, "resolve"), route.label  # the real function, imported
    assert "pydantic" in sys.modules
    assert {home.split(":")[0] for home in DISPATCH_HOMES.values()} <= \
        set(sys.modules)  # every source's dispatcher is in the image too
    assert aws._clients == {} and aws._session == []  # no client, no credentials in the image


def test_after_restore_drops_clients_credentials_random_state_watchdog_and_settings(
        fresh_app: App, runtime_hooks: dict[str, list[Any]], moto_aws: None,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy

    snapstart.register(fresh_app, {"AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start"})
    # What a process may hold when its memory is snapshotted:
    client = aws.client("s3")
    session = aws._session[0]
    session.get_credentials()  # resolved and cached on the session
    fired: list[str] = []
    job = WATCHDOG.arm(3600, lambda: fired.append("stale deadline"))
    thread = WATCHDOG._thread
    random.seed(1234)
    numpy.random.seed(1234)
    python_state, numpy_state = random.getstate(), numpy.random.get_state()[1].copy()
    monkeypatch.setenv("IMAGING_UPLOAD_URL_EXPIRY_S", "120")
    imaging_before, core_before = ImagingSettings.current(), core_settings()
    fresh_app._cold = False
    # The restore:
    runtime_hooks["after"][0]()
    assert aws._clients == {} and aws._session == []
    assert aws.client("s3") is not client and aws._session[0] is not session
    assert WATCHDOG._jobs == {} and WATCHDOG._thread is None
    WATCHDOG.cancel(job)  # the snapshot's job id means nothing now
    assert random.getstate() != python_state
    assert not (numpy.random.get_state()[1] == numpy_state).all()
    assert ImagingSettings.current() is not imaging_before
    assert core_settings() is not core_before and isinstance(core_settings(), CoreSettings)
    assert fresh_app._cold is True
    # The watchdog works again in the restored environment, with a thread of its own:
    done = threading.Event()
    WATCHDOG.arm(0.01, done.set)
    assert done.wait(5)
    assert WATCHDOG._thread is not None and WATCHDOG._thread is not thread
    assert fired == []


def test_restored_environments_draw_different_random_numbers(fresh_app: App) -> None:
    random.seed(99)  # the state a snapshot would carry into every environment
    snapshot = random.getstate()
    draws = []
    for _ in range(2):
        random.setstate(snapshot)
        snapstart.after_restore(fresh_app)
        draws.append(random.random())
    assert draws[0] != draws[1]
