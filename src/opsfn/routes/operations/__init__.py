"""Operations: incident remediation, the on-demand database, and Glue ETL triggering.

``routers`` and ``router`` (the three joined) are built on first access, so that the handler
(which registers routes from the manifest) can import one module without the others.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opsfn.router import Router

__all__ = ["router", "routers"]


def _routers() -> list[Router]:
    from opsfn.routes.operations import database, glue, incidents

    return [incidents.router, database.router, glue.router]


def _joined() -> Router:
    from opsfn.router import Router

    combined = Router()
    for part in _routers():
        combined.routes.extend(part.routes)
    return combined


def __getattr__(name: str) -> Any:
    builders = {"routers": _routers, "router": _joined}
    if name in builders:
        value = builders[name]()
        globals()[name] = value
        return value
    raise AttributeError(name)
