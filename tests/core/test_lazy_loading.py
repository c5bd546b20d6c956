"""One way to load lazily: a name held as data is an ``opsfn.lazy`` reference; a deferred import
is of a module on the one list in pyproject.toml (ruff holds every other import at the top).

Nothing else in ``src/opsfn`` imports by name (``importlib.import_module``, ``__import__``) or
defines a module ``__getattr__`` of its own.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
LAZY = SRC / "opsfn" / "lazy.py"


def _modules() -> list[tuple[Path, ast.Module]]:
    return [(path, ast.parse(path.read_text(encoding="utf-8")))
            for path in sorted((SRC / "opsfn").rglob("*.py"))]


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
