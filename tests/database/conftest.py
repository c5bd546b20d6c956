"""Fixtures of the database tests: an app with only the database routes, and the shared moto fixtures."""

from __future__ import annotations

import pytest

from opsfn.core.app import App
from opsfn.routes import database
from tests.operator_fixtures import client, tables  # noqa: F401 - fixtures


@pytest.fixture
def app() -> App:
    return App([database.router])
