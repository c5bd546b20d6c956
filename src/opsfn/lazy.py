"""Names that load on first use, the one way opsfn defers an import.

A cold start should import what the event it handles needs and nothing else. Every deferred name
in the package is a ``"module:attribute"`` reference: a package's public names
(:func:`attributes`), an event source's dispatcher, a domain's router, a settings section, a route
function of the manifest, a command's module (:func:`load`). Code that defers an import writes
it inside the function that needs it, and only for a module on the one list in
``pyproject.toml`` (``banned-module-level-imports``); ruff keeps every other import at the top.
This module imports nothing of opsfn, so any layer may use it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any

__all__ = ["attributes", "load"]


def load(reference: str) -> Any:
    """The object ``"package.module:name"`` names (``name`` may be dotted: ``Class.method``)."""
    module, _, path = reference.partition(":")
    found: Any = import_module(module)
    for part in path.split(".") if path else ():
        found = getattr(found, part)
    return found


def attributes(namespace: dict[str, Any], table: Mapping[str, str]
               ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A module's ``__getattr__`` and ``__dir__`` for the names of ``table``, each loaded from its
    reference on first use and kept in the module (later lookups are plain attributes)."""
    module_name = namespace.get("__name__", "?")

    def __getattr__(name: str) -> Any:
        reference = table.get(name)
        if reference is None:
            raise AttributeError(f"module {module_name!r} has no attribute {name!r}")
        value = load(reference)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *table})

    return __getattr__, __dir__
