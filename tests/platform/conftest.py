"""Fixtures of the platform tests: an app with only the platform routers, and a TLS directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from opsfn.core.app import App
from opsfn.routes import ses, tls
from opsfn.testing import Client


@pytest.fixture
def client() -> Client:
    """A test client over the platform routes only (the same Lambda path as lambda_handler)."""
    return Client(App([tls.router, ses.router]))


@pytest.fixture
def ssl_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty directory standing in for the mounted EFS access point."""
    root = tmp_path / "ssl"
    root.mkdir()
    monkeypatch.setenv("SSL_DIR", str(root))
    monkeypatch.setenv("SSL_LOCK_WAIT_SECONDS", "0")
    return root


@pytest.fixture(autouse=True)
def _moto_current_follows_the_label(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's UpdateSecretVersionStage moves the AWSCURRENT label but not the version a
    GetSecretValue without a stage returns; AWS returns the AWSCURRENT version. Keep the two
    together so readers here (an ECS task starting reads the default) see what they see on AWS."""
    from moto.secretsmanager.models import SecretsManagerBackend

    original = SecretsManagerBackend.update_secret_version_stage

    def update(backend: SecretsManagerBackend, secret_id: str, version_stage: str,
               remove_from_version_id: str, move_to_version_id: str) -> tuple[str, str]:
        result = original(backend, secret_id, version_stage, remove_from_version_id,
                           move_to_version_id)
        if version_stage == "AWSCURRENT" and move_to_version_id:
            backend.secrets[secret_id].default_version_id = move_to_version_id
        return result

    monkeypatch.setattr(SecretsManagerBackend, "update_secret_version_stage", update)
