"""The domains' own commands: tls-status, landing-check and db-auto-stop, as an operator runs them."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from opsfn.tooling.cli import main


# -- tls-status ---------------------------------------------------------------------------------
@pytest.fixture
def ssl_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Material written by the real route (ecdsa: fast), the way the container will find it."""
    from opsfn.core.app import App
    from opsfn.routes import tls
    from opsfn.testing import Client

    root = tmp_path / "ssl"
    root.mkdir()
    monkeypatch.setenv("SSL_DIR", str(root))
    monkeypatch.setenv("SSL_KEY_TYPE", "ecdsa-p256")
    Client(App([tls.router])).invoke("generate_ssl_materials")
    return root


def test_tls_status_reports_current_private_material(ssl_dir: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tls-status"]) == 0
    out = capsys.readouterr().out
    assert "state            current" in out and "key type         ecdsa-p256" in out
    assert "0600" in out and "readable by group or others" not in out


def test_tls_status_flags_a_world_readable_key_and_missing_material(
        ssl_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    os.chmod(ssl_dir / "private" / "selfsigned.key.pem", 0o644)
    assert main(["tls-status", str(ssl_dir)]) == 1
    assert "readable by group or others" in capsys.readouterr().out
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["tls-status", str(empty)]) == 1
    assert "state            missing" in capsys.readouterr().out


def test_tls_status_needs_a_directory(monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("SSL_DIR", raising=False)
    assert main(["tls-status"]) == 2


# -- landing-check ------------------------------------------------------------------------------
def test_landing_check_takes_the_generators_files_and_names_the_first_bad_entry(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "patient_20260101T000000.json"
    good.write_text(json.dumps([{"resourceType": "Patient", "id": "1"},
                                {"resourceType": "Observation", "id": "2"}], indent=2))
    lines = tmp_path / "obs.ndjson"
    lines.write_text('{"resourceType": "Observation"}\n{"resourceType": "Banana"}\n')
    other = tmp_path / "notes.txt"
    other.write_text("x")
    assert main(["landing-check", str(good)]) == 0
    assert "ok, array of 2 resource(s)" in capsys.readouterr().out
    assert main(["landing-check", str(good), str(lines)]) == 1
    out = capsys.readouterr().out
    assert "quarantined: unknown_resource_type at line 2" in out and "Banana" not in out
    assert main(["landing-check", str(other)]) == 2


# -- db-auto-stop -------------------------------------------------------------------------------
def test_db_auto_stop_says_what_the_schedule_would_do(monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DB_IDLE_MINUTES", "30")
    now = "2026-01-01T12:00:00Z"
    assert main(["db-auto-stop", "--now", now, "--last-activity", "2026-01-01T11:00:00",
                 "--started", "2026-01-01T10:30:00Z"]) == 0
    assert capsys.readouterr().out.startswith("stop (idle); idle 60.0 min, up 90.0 min")
    assert main(["db-auto-stop", "--now", now, "--last-activity", "2026-01-01T11:50:00Z",
                 "--started", "2026-01-01T11:00:00Z"]) == 0
    assert capsys.readouterr().out.startswith("keep running; idle 10.0 min")
    assert main(["db-auto-stop", "--status", "stopped", "--now", now]) == 0
    assert capsys.readouterr().out.startswith("keep running; idle unknown")
    assert main(["db-auto-stop", "--last-activity", "yesterday"]) == 1
