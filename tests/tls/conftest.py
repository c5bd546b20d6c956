"""Fixtures of the tls tests: an app with only the tls routes, and a TLS directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from opsfn.core.app import App
from opsfn.routes import tls
from opsfn.testing import Client


@pytest.fixture
def client() -> Client:
    """A test client over the tls routes only (the same Lambda path as lambda_handler)."""
    return Client(App([tls.router]))


@pytest.fixture
def ssl_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty directory standing in for the mounted EFS access point."""
    root = tmp_path / "ssl"
    root.mkdir()
    monkeypatch.setenv("SSL_DIR", str(root))
    monkeypatch.setenv("SSL_LOCK_WAIT_SECONDS", "0")
    return root

