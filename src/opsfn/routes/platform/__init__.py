"""Platform operations: TLS materials on the shared file system, SES SMTP credentials, SES rule sets.

``routers`` lists this package's routers for ``opsfn.routes.builtin_routers``; it is built on
first access, so that the handler (which registers routes from the manifest) can import one module
without the others. The modules import only light things at import time (``cryptography`` and
boto3 load inside the routes that use them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opsfn.router import Router

__all__ = ["routers"]


def _routers() -> list[Router]:
    from opsfn.routes.platform import receipt_rules, smtp, tls

    return [tls.router, smtp.router, receipt_rules.router]


def __getattr__(name: str) -> Any:
    if name == "routers":
        value = _routers()
        globals()["routers"] = value
        return value
    raise AttributeError(name)
