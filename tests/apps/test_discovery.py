"""Which App a process serves: --app, OPSFN_APP, an opsfn.apps entry point, else the built-ins."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from opsfn.core.discovery import AppNotFound, find_app, load_reference, resolve_reference
from opsfn.routes import default_app

APP = "tests.local.stack_app:app"


def _entry_point(root: Path, dist: str, name: str, value: str) -> None:
    info = root / f"{dist}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[opsfn.apps]\n{name} = {value}\n")


def test_explicit_reference_then_environment_then_builtin(monkeypatch: pytest.MonkeyPatch) -> None:
    app = find_app(default_app, APP)
    assert app is importlib.import_module("tests.local.stack_app").app
    assert find_app(default_app, APP) is app
    monkeypatch.setenv("OPSFN_APP", APP)
    assert find_app(default_app) is app
    assert resolve_reference() == APP
    monkeypatch.delenv("OPSFN_APP")
    builtin = find_app(default_app, entry_points=False)
    assert {r.label for r in builtin.registry.routes} >= {"GET /health", "action:health"}
    assert "GET /whoami" not in {r.label for r in builtin.registry.routes}


def test_one_entry_point_is_found_and_names_select(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    _entry_point(tmp_path, "triggers_app", "triggers", APP)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert resolve_reference() == APP
    app = find_app(default_app)
    assert app is importlib.import_module("tests.local.stack_app").app
    assert find_app(default_app, "triggers") is app
    assert resolve_reference(entry_points=False) is None  # the Lambda entry reads OPSFN_APP only
    with pytest.raises(AppNotFound, match="neither module:attribute nor"):
        resolve_reference("other")
    _entry_point(tmp_path, "second_app", "second", "tests.local.stack_app:router")
    with pytest.raises(AppNotFound, match=r"several opsfn\.apps entry points"):
        resolve_reference()
    assert resolve_reference("second") == "tests.local.stack_app:router"


@pytest.mark.parametrize(("reference", "message"), [
    ("tests.local.stack_app", "is not module:attribute"),
    ("no_such_package.app:app", "cannot import 'no_such_package.app'"),
    ("tests.local.stack_app:missing", "has no attribute 'missing'"),
    ("tests.local.stack_app:router", "is a Router, not an opsfn App"),
])
def test_bad_references_say_what_is_wrong(reference: str, message: str) -> None:
    with pytest.raises(AppNotFound, match=message):
        load_reference(reference)
