"""--app on every command: the user's routes, schemas, OpenAPI, settings and template check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from opsfn.tooling.cli import main

ROOT = Path(__file__).resolve().parents[2]
APP = "tests.local.stack_app:app"
TEMPLATE = str(ROOT / "tests" / "local" / "stack_template.yaml")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_routes_explain_invoke_and_schema(capsys: pytest.CaptureFixture[str], tmp_path: Path
                                          ) -> None:
    code, out, _ = run(capsys, "routes", "--json", "--app", APP)
    rows = {row["key"]: row for row in json.loads(out)}
    assert code == 0 and rows["GET /whoami"]["auth"] == "jwt"
    assert rows["sqs:${WORK_QUEUE}"]["handler"] == "tests.local.stack_app.work"
    assert "action:health" in rows and "GET /database/status" not in rows
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"action": "flaky"}))
    _, out, _ = run(capsys, "explain", str(event), "--app", APP)
    assert "route: action:flaky -> tests.local.stack_app.flaky" in out
    code, _, err = run(capsys, "invoke", "flaky", "--app", APP)
    assert code == 1 and "Conflict: busy" in err
    code, out, _ = run(capsys, "invoke", "health", "--app", APP)
    assert code == 0 and json.loads(out)["routes"]["sqs"] == 1
    code, out, _ = run(capsys, "schema", "--app", APP)
    assert code == 0 and set(json.loads(out)) == {"flaky", "health"}


def test_openapi_and_settings(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "openapi", "--app", APP)
    paths = json.loads(out)["paths"]
    assert paths["/whoami"]["get"]["security"] == [{"jwt": []}]
    assert paths["/open"]["get"]["security"] == []
    _, out, _ = run(capsys, "settings", "--app", APP)
    assert "DROP_BUCKET" in out and "WORK_QUEUE" in out
    _, out, _ = run(capsys, "settings", "--markdown")
    assert "DROP_BUCKET" in out  # still registered in this process (the fixture undoes it)


def test_opsfn_app_environment_is_the_default(capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSFN_APP", APP)
    _, out, _ = run(capsys, "routes", "--json")
    assert "GET /whoami" in {row["key"] for row in json.loads(out)}


def test_infra_check_of_the_users_template(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "infra", "check", "--app", APP, "--template", TEMPLATE)
    assert code == 0, out
    assert out.strip().endswith("sound")
    code, out, _ = run(capsys, "infra", "check", "--template", TEMPLATE)
    assert code == 1
    assert "OPSFN_APP is 'tests.local.stack_app:app' but the built-in app was checked" in out
    code, out, _ = run(capsys, "infra", "check", "--app", APP)  # opsfn's own template
    assert code == 1 and "so Lambda would not serve tests.local.stack_app:app" in out


def test_a_bad_app_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit, match="is a Router, not an opsfn App"):
        main(["routes", "--app", "tests.local.stack_app:router"])
    with pytest.raises(SystemExit, match="cannot import"):
        main(["openapi", "--app", "nowhere:app"])
