"""Fixtures of the etl tests: an app with only the etl routes, and the shared moto fixtures."""

from __future__ import annotations

import pytest

from opsfn.core.app import App
from opsfn.routes import etl
from opsfn.testing import Client
from tests.operator_fixtures import inbox, tables  # noqa: F401 - fixtures


@pytest.fixture
def app() -> App:
    return App([etl.router])


@pytest.fixture
def client(app: App) -> Client:
    return Client(app, auth="iam")  # the operator routes sit behind the IAM authorizer
