"""``--app`` for every command: which application (an opsfn ``App``) a command works on.

``--app module:attribute`` (or an ``opsfn.apps`` entry point name), else ``OPSFN_APP``, else the
one installed ``opsfn.apps`` entry point, else the built-in routes. The working directory is
importable, as with ``python -m``, so a project need not be installed to be inspected.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opsfn.core.discovery import AppNotFound, find_app, resolve_reference
from opsfn.routes import default_app

if TYPE_CHECKING:
    from opsfn.core.app import App

HELP = ("the application: module:attribute of an opsfn App, or an opsfn.apps entry point name "
        "(default: OPSFN_APP, the installed entry point, else the built-in routes)")


def add_app_argument(parser: Any) -> None:
    """Give ``parser`` the ``--app`` option."""
    parser.add_argument("--app", default=None, metavar="MODULE:ATTRIBUTE", help=HELP)


def app_reference(args: Any) -> str | None:
    """The reference the command's options and environment name (None: the built-in app)."""
    try:
        return resolve_reference(getattr(args, "app", None))
    except AppNotFound as error:
        raise SystemExit(f"error: {error}") from None


def load_app(args: Any) -> App:
    """The App the command works on; exits with a clear message when it cannot be loaded."""
    cwd = str(Path.cwd())
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        return find_app(default_app, getattr(args, "app", None))
    except AppNotFound as error:
        raise SystemExit(f"error: {error}") from None
