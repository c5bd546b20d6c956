"""The built-in routes, one module (or package) per domain."""

from __future__ import annotations

from opsfn.router import Router


def builtin_routers() -> list[Router]:
    """Every built-in router; importing the handler registers them all.

    One line per domain module. Modules import only light things at import time: AWS clients,
    imaging, crypto and cache libraries are imported inside the functions that use them.
    """
    from opsfn.routes import health

    routers = [health.router]
    from opsfn.routes import imaging
    routers.append(imaging.router)
    from opsfn.routes import operations
    routers.append(operations.router)
    from opsfn.routes import platform
    routers.extend(platform.routers)
    from opsfn.routes import exports
    routers.append(exports.router)
    return routers
