"""Which application a process serves: an :class:`~opsfn.core.app.App` named ``module:attribute``.

The reference comes, in this order, from the command line's ``--app``, from ``OPSFN_APP``, or from
the one entry point of the ``opsfn.apps`` group an installed project declares; with none of them
the process serves the built-in routes. The Lambda entry reads ``OPSFN_APP`` only: reading entry
points imports ``importlib.metadata`` (about 100 ms), which a cold start should not pay, so a
deployment names its app in the template's environment (``opsfn infra check --app`` checks it).
"""

from __future__ import annotations

import os
from collections.abc import Callable

from opsfn.core.app import App
from opsfn.lazy import load

APP_VARIABLE = "OPSFN_APP"
ENTRY_POINT_GROUP = "opsfn.apps"


class AppNotFound(Exception):
    """The reference names no importable App (the message says what was found instead)."""


def entry_point_apps() -> dict[str, str]:
    """``name -> module:attribute`` of every installed ``opsfn.apps`` entry point."""
    from importlib.metadata import entry_points

    return {point.name: point.value for point in entry_points(group=ENTRY_POINT_GROUP)}


def resolve_reference(explicit: str | None = None, *, entry_points: bool = True) -> str | None:
    """The reference to load, or None for the built-in app.

    ``explicit`` is ``module:attribute`` or the name of an ``opsfn.apps`` entry point.
    """
    if explicit:
        if ":" in explicit:
            return explicit
        found = entry_point_apps()
        if explicit not in found:
            raise AppNotFound(f"{explicit!r} is neither module:attribute nor an {ENTRY_POINT_GROUP} "
                              f"entry point (installed: {', '.join(sorted(found)) or 'none'})")
        return found[explicit]
    configured = os.environ.get(APP_VARIABLE)
    if configured:
        return configured
    if entry_points:
        found = entry_point_apps()
        if len(found) > 1:
            raise AppNotFound(f"several {ENTRY_POINT_GROUP} entry points are installed "
                              f"({', '.join(sorted(found))}): choose one with --app NAME or "
                              f"{APP_VARIABLE}")
        if found:
            return next(iter(found.values()))
    return None


def load_reference(reference: str) -> App:
    """Import ``module:attribute`` and return the App it names."""
    module_name, _, attribute = reference.partition(":")
    if not module_name or not attribute:
        raise AppNotFound(f"{reference!r} is not module:attribute")
    try:
        target: object = load(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise AppNotFound(f"cannot import {module_name!r} (is the project installed, or on "
                              "PYTHONPATH?)") from None
        raise
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise AppNotFound(f"{module_name} has no attribute {attribute!r}")
        target = getattr(target, part)
    if not isinstance(target, App):
        raise AppNotFound(f"{reference} is a {type(target).__name__}, not an opsfn App: "
                          "compose one with App([builtin(), router])")
    return target


def find_app(default: Callable[[], App], explicit: str | None = None, *,
             entry_points: bool = True) -> App:
    """The App ``explicit``, ``OPSFN_APP`` or the entry point names; else the one ``default``
    makes (the handler's: every built-in route)."""
    reference = resolve_reference(explicit, entry_points=entry_points)
    if reference is None:
        return default()
    return load_reference(reference)
