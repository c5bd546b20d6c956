"""The application the function serves: opsfn's health routes and the clinic's, under /clinic.

The template names it for Lambda (``OPSFN_APP: clinic_app.app:app``); the ``opsfn.apps`` entry
point in pyproject.toml lets ``opsfn`` commands find it without ``--app``.
"""

from __future__ import annotations

from opsfn import App, builtin

from clinic_app.routes import router

app = App([builtin("health"), ("/clinic", router)])
