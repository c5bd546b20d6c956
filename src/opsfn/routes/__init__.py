"""The built-in routes, one module per domain. ``ROUTERS`` lists what the handler includes."""

from __future__ import annotations

from opsfn.router import Router


def builtin_routers() -> list[Router]:
    """Every built-in router, imported here so that importing the handler registers them all."""
    from opsfn.routes import health

    return [health.router]
