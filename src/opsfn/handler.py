"""The one Lambda entry point: ``opsfn.handler.lambda_handler``.

Importing this module builds the app with every built-in route. It imports no AWS SDK and no
imaging, crypto or cache library: routes import those when they run.
"""

from __future__ import annotations

from typing import Any

from opsfn.app import App
from opsfn.routes import builtin_routers

app = App(builtin_routers())


def lambda_handler(event: Any, context: Any) -> Any:
    """Detect the event's source and dispatch it to its route."""
    return app(event, context)
