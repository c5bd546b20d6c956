"""SnapStart: what the snapshot may keep, and what every restored environment must make anew.

With SnapStart (the template's ``SnapStart`` parameter) Lambda runs the init phase once per
published version, snapshots the memory and restores copies of it for every new environment. The
hooks here use the runtime's ``snapshot_restore_py`` (in Lambda's Python 3.12+ runtimes), imported
only when the init phase is a snapshot's (``AWS_LAMBDA_INITIALIZATION_TYPE=snap-start``):

* before the snapshot, every route's module is imported and its binder built (pydantic models,
  the libraries they import), so a restored environment starts with them loaded;
* after a restore, what must not be shared between environments is dropped: cached AWS clients,
  their connections and the SDK session with its credentials; the random generators' state
  (reseeded from the operating system); the custom-resource watchdog's thread and deadlines
  (its clock is the snapshot's); cached settings; and the cold-start flag is set again.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

from opsfn.lazy import load

SNAPSHOT_INIT = "snap-start"
_RESETS: list[Callable[[], None]] = []


def on_restore(reset: Callable[[], None]) -> Callable[[], None]:
    """Run ``reset`` after every restore: a module holding clients, connections or credentials
    registers how to drop them as it is imported (``opsfn.services.aws``, the settings cache, the
    custom-resource watchdog): a module never imported has nothing to drop."""
    if reset not in _RESETS:
        _RESETS.append(reset)
    return reset


def before_snapshot(app: Any) -> list[str]:
    """Import every dispatcher and route module and build each binder; returns the modules
    imported."""
    warmed: list[str] = app.warm_up()
    return warmed


def _reseed_random() -> None:
    """Reseed the generators a route has loaded (one never imported holds no state)."""
    random = sys.modules.get("random")
    if random is not None:
        random.seed()  # from os.urandom: each environment its own sequence
    numpy = sys.modules.get("numpy")
    if numpy is not None:  # the legacy global generator, if a route uses it
        numpy.random.seed(int.from_bytes(os.urandom(4), "little"))


def after_restore(app: Any) -> None:
    """Drop what a snapshot shares between environments."""
    for reset in _RESETS:  # AWS clients and credentials, the watchdog, the settings cache
        reset()
    _reseed_random()
    app.mark_cold()


def register(app: Any, environ: dict[str, str] | None = None) -> bool:
    """Register the hooks with the runtime when this init phase is a snapshot's."""
    env = os.environ if environ is None else environ
    if env.get("AWS_LAMBDA_INITIALIZATION_TYPE") != SNAPSHOT_INIT:
        return False
    try:
        hooks = load("snapshot_restore_py")  # part of Lambda's runtime
    except ImportError:  # not Lambda's runtime: nothing will snapshot this process
        return False
    hooks.register_before_snapshot(lambda: before_snapshot(app))
    hooks.register_after_restore(lambda: after_restore(app))
    return True
