"""The application the function serves: opsfn's health routes, the clinic's HTTP routes under
/clinic and its other triggers (an action, a schedule, an EventBridge event, a queue, a topic).

The template names it for Lambda (``OPSFN_APP: clinic_app.app:app``); the ``opsfn.apps`` entry
point in pyproject.toml lets ``opsfn`` commands find it without ``--app``.
"""

from __future__ import annotations

from opsfn import App, builtin

from clinic_app import operations
from clinic_app.routes import router

app = App([builtin("health"), ("/clinic", router), operations.router])
