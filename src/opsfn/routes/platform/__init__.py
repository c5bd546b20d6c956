"""Platform operations: TLS materials on the shared file system, SES SMTP credentials, SES rule sets.

``routers`` lists this package's routers for ``opsfn.routes.builtin_routers``. The modules import
only light things at import time (``cryptography`` and boto3 load inside the routes that use them).
"""

from __future__ import annotations

from opsfn.router import Router
from opsfn.routes.platform import receipt_rules, smtp, tls

routers: list[Router] = [tls.router, smtp.router, receipt_rules.router]

__all__ = ["routers"]
