"""Fixtures of the etl tests: an app with only the etl routes, and the shared moto fixtures."""

from __future__ import annotations

import pytest

from opsfn.core.app import App
from opsfn.routes import etl
from tests.operator_fixtures import client, inbox, tables  # noqa: F401 - fixtures


@pytest.fixture
def app() -> App:
    return App([etl.router])
