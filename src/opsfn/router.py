"""The public home of the route declarations: ``from opsfn.router import Router, setting``.

The implementation lives in :mod:`opsfn.core.router`; this module keeps the documented import path.
"""

from __future__ import annotations

from opsfn.core.router import Route, Router, Setting, setting

__all__ = ["Route", "Router", "Setting", "setting"]
