"""The built-in routes' manifest (``manifest.json`` beside this module), generated from the
routers themselves, and the router and app it gives; a test fails when it is stale:

    python -m opsfn.routes.manifest --write     # after adding or changing a route
    python -m opsfn.routes.manifest --check
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from opsfn import Router
from opsfn.core.app import App
from opsfn.core.manifest import describe, render, routes_of
from opsfn.routes.domains import DOMAINS, builtin_routers

PATH = Path(__file__).with_name("manifest.json")


def builtin_entries() -> list[dict[str, Any]]:
    """The manifest as the built-in routers declare it now (imports every route module)."""
    return describe([route for router in builtin_routers() for route in router.routes])


def load(path: Path = PATH, *, domains: tuple[str, ...] | None = None) -> Router:
    """A router holding every manifest route (or those of ``domains``), with functions imported
    on first call."""
    if domains is not None:
        unknown = sorted(set(domains) - set(DOMAINS))
        if unknown:
            raise ValueError(f"unknown built-in domain(s) {unknown}; opsfn has {list(DOMAINS)}")

    def wanted(module: str) -> bool:
        return domains is None or any(module == f"opsfn.routes.{d}" or module.startswith(
            f"opsfn.routes.{d}.") for d in domains)

    return routes_of(json.loads(path.read_text()), wanted)


def builtin(*domains: str) -> Router:
    """opsfn's built-in routes (every domain, or only those named, e.g. ``"health"``), each
    module imported the first time one of its routes runs."""
    return load(domains=domains or None)


def default_app() -> App:
    """What a function serves when no application is named: every built-in route."""
    return App([builtin()])


def main(argv: list[str]) -> int:
    """``--write`` regenerates the manifest; ``--check`` exits 1 when it is stale."""
    fresh = render(builtin_entries())
    if "--write" in argv:
        PATH.write_text(fresh)
        return 0
    if PATH.read_text() != fresh:
        print("the route manifest is stale: run python -m opsfn.routes.manifest --write",  # noqa: T201
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
