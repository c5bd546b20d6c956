"""Dependencies point down: every import in ``src/opsfn`` (at the top of a module or inside a
function) goes to the same layer or one below.

errors, aws_errors, lazy  <-  events  <-  core  <-  services  <-  the public API (``opsfn``,
``opsfn.router``, ``opsfn.access``, ``opsfn.settings``)  <-  routes  <-  handler, testing,
tooling, cdk

core and services: services build on core (its settings, access declarations and checks,
logging); core never imports services. Built-in routes use the public API as an application's
routes do; only the registry of the built-ins (``opsfn.routes`` and its manifest) uses core.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
LAYERS: tuple[tuple[str, ...], ...] = (
    ("opsfn.errors", "opsfn.aws_errors", "opsfn.lazy"),
    ("opsfn.events",),
    ("opsfn.core",),
    ("opsfn.services",),
    ("opsfn", "opsfn.access", "opsfn.router", "opsfn.settings"),
    ("opsfn.routes",),
    ("opsfn.handler", "opsfn.testing", "opsfn.tooling", "opsfn.cdk"),
)
REGISTRY = ("opsfn.routes", "opsfn.routes.domains", "opsfn.routes.manifest")  # the registry
# Imports that still point the wrong way, each with why; the list may only shrink.
KNOWN: dict[tuple[str, str], str] = {}


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, type-checking-only blocks left out (no run-time edge)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = _module_name(path) if path.name == "__init__.py" else \
        _module_name(path).rpartition(".")[0]
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(child) for stmt in node.body for child in ast.walk(stmt)}
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:  # a submodule by name, else a name of ``base``
                child = f"{base}.{alias.name}"
                found.add(child if _real(child) else base)
    return {name for name in found if name == "opsfn" or name.startswith("opsfn.")}


def _layer(module: str) -> int | None:
    best: tuple[int, int] | None = None  # (length of the matching prefix, layer)
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + "."):
                if prefix == "opsfn" and module != "opsfn":
                    continue  # the package itself only; its submodules have layers of their own
                if best is None or len(prefix) > best[0]:
                    best = (len(prefix), index)
    return None if best is None else best[1]


def _real(module: str) -> bool:
    """Whether ``module`` names a module or package (not a name imported from one)."""
    relative = Path(*module.split("."))
    return (SRC / relative).with_suffix(".py").exists() or (SRC / relative / "__init__.py").exists()


def _edges() -> set[tuple[str, str]]:
    edges: set[tuple[str, str]] = set()
    for path in sorted((SRC / "opsfn").rglob("*.py")):
        importer = _module_name(path)
        edges |= {(importer, imported) for imported in _imports(path)
                  if _real(imported) and imported != importer}
    return edges


def test_imports_point_down() -> None:
    upward = sorted((importer, imported) for importer, imported in _edges()
                    if (a := _layer(importer)) is not None and (b := _layer(imported)) is not None
                    and b > a and (importer, imported) not in KNOWN)
    assert upward == [], "an import points up a layer (see this module's docstring)"


def test_built_in_routes_use_the_public_api() -> None:
    reaching = sorted((importer, imported) for importer, imported in _edges()
                      if importer.startswith("opsfn.routes.") and importer not in REGISTRY
                      and imported.startswith("opsfn.core") and (importer, imported) not in KNOWN)
    assert reaching == [], "a built-in route imports opsfn.core: use opsfn, opsfn.access, ..."


def test_the_known_exceptions_still_exist() -> None:
    """An exception fixed is taken off the list, so the list only shrinks."""
    edges = _edges()
    assert [edge for edge in KNOWN if edge not in edges] == []
