"""TLS materials on the shared file system: a self-signed key and certificate, renewed on time.

Replaces OpenEMR's ``generate_ssl_materials`` function (seed 000). Public routes: the custom
resource ``Custom::SslMaterials``, the action ``generate_ssl_materials`` and the schedule
``rotate-ssl-materials``. ``cryptography`` loads inside the routes that use it.

``router`` is built on first access, so that the handler (which registers routes from the
manifest) can import one module without the others.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opsfn.core.router import Router

__all__ = ["router"]


def _build() -> Router:
    from opsfn.routes.tls import routes

    return routes.router


def __getattr__(name: str) -> Any:
    if name == "router":
        value = _build()
        globals()["router"] = value
        return value
    raise AttributeError(name)
