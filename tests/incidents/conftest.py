"""Fixtures of the incidents tests: an app with only the incidents routes, and the shared moto fixtures."""

from __future__ import annotations

import pytest

from opsfn.core.app import App
from opsfn.routes import incidents
from tests.operator_fixtures import client, inbox, redis_server, tables  # noqa: F401 - fixtures


@pytest.fixture
def app() -> App:
    return App([incidents.router])
