"""One way to load lazily: a name held as data is an ``opsfn.lazy`` reference; a deferred import
is of a module on the one list in pyproject.toml (ruff holds every other import at the top).

Nothing else in ``src/opsfn`` imports by name (``importlib.import_module``, ``__import__``) or
defines a module ``__getattr__`` of its own.
"""

from __future__ import annotations

import ast
import importlib.util
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
LAZY = SRC / "opsfn" / "lazy.py"


def _modules() -> list[tuple[Path, ast.Module]]:
    return [(path, ast.parse(path.read_text(encoding="utf-8")))
            for path in sorted((SRC / "opsfn").rglob("*.py"))]


def _ruff() -> dict[str, Any]:
    lint: dict[str, Any] = tomllib.loads(
        (ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["ruff"]["lint"]
    return lint


def test_only_opsfn_lazy_imports_by_name() -> None:
    found = []
    for path, tree in _modules():
        if path == LAZY:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                name = ast.unparse(node.func)
                if name.endswith("import_module") or name == "__import__":
                    found.append(f"{path.relative_to(SRC)}:{node.lineno} {name}")
    assert found == [], "load a name with opsfn.lazy.load (see opsfn/lazy.py)"


def test_no_module_writes_its_own_lazy_getattr() -> None:
    own = [str(path.relative_to(SRC)) for path, tree in _modules()
           for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "__getattr__"]
    assert own == [], "a package's lazy names come from opsfn.lazy.attributes"


def test_deferred_imports_are_the_listed_ones_and_the_list_is_live() -> None:
    lint = _ruff()
    # PLC0415 (an import inside a function) and TID253 (a listed module at the top) both hold
    # for the shipped code: only tests and benchmarks set them aside.
    assert "PLC0415" not in lint["ignore"]
    assert "TID253" in lint["select"]
    ignored_in = [pattern for pattern, rules in lint["per-file-ignores"].items()
                  if {"PLC0415", "TID253"} & set(rules)]
    assert sorted(ignored_in) == ["bench/**", "tests/**"]
    listed = lint["flake8-tidy-imports"]["banned-module-level-imports"]
    stale = [name for name in listed if name.startswith("opsfn.")
             and importlib.util.find_spec(name) is None]
    assert stale == [], "a listed opsfn module that no longer exists"
