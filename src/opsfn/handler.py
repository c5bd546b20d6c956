"""The one Lambda entry point: ``opsfn.handler.lambda_handler``.

Importing this module builds the app the function serves: the application ``OPSFN_APP`` names
(``module:attribute``, an :class:`~opsfn.core.app.App`), or else every built-in route; limited
to the group ``OPSFN_ROUTES`` names when a deployment splits routes over functions. Built-in
routes are registered from the route manifest (:mod:`opsfn.routes.manifest`) without importing the
route modules: each is imported the first time one of its routes runs. Nothing heavy (AWS SDK,
pydantic, imaging, crypto, cache) loads at import.

Importing it as a library changes nothing in the host process: only when the Lambda runtime has
loaded this module as the function's handler does it switch off pydantic's plugin search and
freeze the garbage collector.
"""

from __future__ import annotations

import gc
import os
from typing import Any

from opsfn.core import dead_letters, snapstart
from opsfn.core.discovery import find_app
from opsfn.core.groups import SETTING as GROUP_SETTING
from opsfn.core.groups import limited
from opsfn.routes import default_app
from opsfn.services import failed_events

ENTRY = "opsfn.handler.lambda_handler"


def is_lambda_entry(environ: Any = os.environ) -> bool:
    """Whether the Lambda runtime is running this module as the function's handler."""
    return bool(environ.get("AWS_LAMBDA_RUNTIME_API")) and \
        bool(environ.get("AWS_LAMBDA_FUNCTION_NAME")) and environ.get("_HANDLER") == ENTRY


if is_lambda_entry():
    # The first pydantic model of a process looks for pydantic plugins in every installed
    # distribution's entry points (tens of milliseconds of a cold start); the function uses
    # none. An explicit value (an empty one turns the search back on) is left as it is. Only as
    # Lambda's entry: a process that imports opsfn as a library keeps its environment.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

dead_letters.use_sender(failed_events.send)
app = limited(find_app(default_app, entry_points=False), os.environ.get(GROUP_SETTING))
snapstart.register(app)  # only in a SnapStart init phase: warm before, reset after the snapshot


if is_lambda_entry():
    # Everything imported so far lives as long as the execution environment. Freezing it keeps
    # the garbage collector from scanning it again and again while the first event builds its
    # AWS client (botocore allocates heavily): measured ~35 ms off a cold start that creates one
    # client. A process that merely imports opsfn keeps its collector as it was.
    gc.freeze()


def lambda_handler(event: Any, context: Any) -> Any:
    """Detect the event's source and dispatch it to its route."""
    return app(event, context)
