"""Applications of the user's own: a test that imports one leaves the process as it found it."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

APP_MODULES = ("tests.local.stack_app", "clinic_app")


@pytest.fixture(autouse=True)
def _registered_sections_restored(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Importing an application registers its settings sections and may put the working
    directory on sys.path: both are undone (and the application's modules forgotten, so the
    next import registers again), so other tests see only the built-in sections."""
    from opsfn.core import settings

    registered = list(settings._REGISTERED)
    path = list(sys.path)
    monkeypatch.delenv("OPSFN_APP", raising=False)
    yield
    settings._REGISTERED[:] = registered
    sys.path[:] = path
    for name in [m for m in sys.modules if m.startswith(APP_MODULES)]:
        del sys.modules[name]
