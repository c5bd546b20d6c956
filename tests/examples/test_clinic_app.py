"""examples/clinic-app built and tested as its users would: its own tests, its template checked,
and its zip (the project, opsfn and their wheels) imported in an isolated interpreter, its routes
run through lambda_handler against moto."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "clinic-app"
APP = "clinic_app.app:app"


def _env(**extra: str) -> dict[str, str]:
    # the example's package and this checkout's opsfn (not an installed one)
    env = {**os.environ, "PYTHONPATH": f"{EXAMPLE / 'src'}{os.pathsep}{ROOT / 'src'}", **extra}
    env.pop("AWS_ENDPOINT_URL", None)
    env.pop("OPSFN_APP", None)
    return env


def _opsfn(*args: str, cwd: Path = EXAMPLE, timeout: int = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "opsfn.tooling.cli", *args], cwd=cwd,
                          env=_env(), capture_output=True, text=True, timeout=timeout, check=False)


def test_the_examples_own_tests_pass() -> None:
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                          cwd=EXAMPLE, env=_env(), capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and "failed" not in done.stdout


def test_its_template_matches_its_routes() -> None:
    done = _opsfn("infra", "check", "--app", APP, "--template", "template.yaml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 HTTP routes" in done.stdout and done.stdout.strip().endswith("sound")


def test_the_cli_shows_its_routes_settings_and_schemas() -> None:
    rows = {row["key"]: row for row in json.loads(_opsfn("routes", "--json", "--app", APP).stdout)}
    assert rows["POST /clinic/referrals"]["auth"] == "jwt"
    assert rows["POST /clinic/referrals"]["input"] == "Referral"
    assert rows["Custom::ClinicDirectory"]["handler"] == "clinic_app.routes.clinic_directory"
    assert "s3:${CLINIC_REFERRALS_BUCKET}/referrals/*.json" in rows
    assert "GET /health" in rows
    spec = json.loads(_opsfn("openapi", "--app", APP).stdout)
    operation = spec["paths"]["/clinic/referrals"]["post"]
    assert operation["security"] == [{"jwt": []}]
    assert spec["components"]["schemas"]["Referral"]["properties"]["contact"]["format"] == "email"
    settings = _opsfn("settings", "--app", APP).stdout
    assert "CLINIC_REFERRALS_BUCKET" in settings and "CLINIC_URGENT_WITHIN_DAYS" in settings


ISOLATED = r"""
import json, sys
tree, events_file = sys.argv[1], sys.argv[2]
sys.path.insert(0, tree)
import boto3
import opsfn.handler as h
import clinic_app, email_validator, pydantic
for module in (h, clinic_app, email_validator, pydantic, boto3):
    assert module.__file__.startswith(tree), module.__file__
assert [m for m in ("numpy", "PIL", "pydicom", "moto") if m in sys.modules] == []
events = json.loads(open(events_file).read())  # made with opsfn.testing outside (it is not shipped)
bucket = "clinic-referrals"
s3 = boto3.client("s3")
s3.create_bucket(Bucket=bucket)
out = {}
reply = h.lambda_handler(events["post"], None)
out["post"] = [reply["statusCode"], json.loads(reply["body"])]
out["anonymous"] = h.lambda_handler(events["anonymous"], None)["statusCode"]
referral_id = out["post"][1]["referralId"]
stored = json.loads(json.dumps(events["stored"]).replace("REFERRAL_ID", referral_id))
h.lambda_handler(stored, None)
out["triage"] = json.loads(s3.get_object(Bucket=bucket, Key=f"triage/{referral_id}.json")["Body"].read())
h.lambda_handler(events["directory"], None)
out["health"] = h.lambda_handler({"action": "health"}, None)["routes"]
print(json.dumps(out))
"""


def _events(response_url: str) -> dict[str, Any]:
    """The events of the isolated run, as their sources shape them (opsfn.testing is not in the
    zip: it serves tests, not the function)."""
    from opsfn.testing import custom_resource_event, http_v2_event, s3_eventbridge_event

    referral = {"department": "radiology", "urgency": "soon", "reason": "follow-up scan",
                "contact": "gp@example.org"}
    return {"post": http_v2_event("POST", "/clinic/referrals", body=referral, auth="jwt",
                                  caller="practice-9"),
            "anonymous": http_v2_event("POST", "/clinic/referrals", body=referral),
            "stored": s3_eventbridge_event("clinic-referrals", "referrals/REFERRAL_ID.json"),
            "directory": custom_resource_event("Create", "Custom::ClinicDirectory",
                                               {"Departments": ["radiology"]},
                                               response_url=response_url)}


@pytest.mark.slow
def test_the_zip_builds_and_serves_its_routes_in_isolation(tmp_path: Path, moto_server: str) -> None:
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    zip_path = tmp_path / "clinic.zip"
    built = _opsfn("package", "--app", APP, "--arch", "x86_64", "--python-version", version,
                   "--output", str(zip_path), "--require-bytecode", "--with-sdk", cwd=tmp_path,
                   timeout=900)
    assert built.returncode == 0, built.stderr[-3000:]
    assert "bytecode: yes" in built.stdout
    with zipfile.ZipFile(zip_path) as archive:
        names = set(archive.namelist())
        archive.extractall(tmp_path / "tree")
    assert {"clinic_app/routes.py", "opsfn/handler.py", "opsfn/routes/manifest.json",
            "email_validator/__init__.py"} <= names
    assert [n for n in names if n.startswith("clinic_app/__pycache__/routes.")]
    assert [n for n in names if n.startswith("opsfn/__pycache__/handler.")]
    assert any(n.startswith("clinic_app-0.1.0.dist-info/") for n in names)
    assert not [n for n in names if n.startswith(("moto/", "pytest/", "tests/"))]
    env = {"PATH": os.environ.get("PATH", ""), "OPSFN_APP": APP, "AWS_ENDPOINT_URL": moto_server,
           "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
           "POWERTOOLS_METRICS_DISABLED": "true", "CLINIC_REFERRALS_BUCKET": "clinic-referrals"}
    from opsfn.testing import ResponseURLServer

    with ResponseURLServer() as server:
        events = tmp_path / "events.json"
        events.write_text(json.dumps(_events(server.url)))
        # -I: no PYTHON* variables, no user site; -S: no site-packages: the zip and the stdlib.
        run = subprocess.run([sys.executable, "-I", "-S", "-c", ISOLATED, str(tmp_path / "tree"),
                              str(events)], capture_output=True, text=True, timeout=180,
                             check=False, env=env, cwd=tmp_path)
        answers = [answer["body"]["Status"] for answer in server.received]
    assert run.returncode == 0, run.stderr[-3000:]
    assert answers == ["SUCCESS"]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["post"][0] == 202 and out["post"][1]["status"] == "received"
    assert out["anonymous"] == 401
    assert out["triage"]["queue"] == "radiology-standard" and out["triage"]["dueWithinDays"] == 14
    assert out["health"]["http"] == 2 and out["health"]["custom_resource"] == 1


def test_it_runs_on_the_local_stack(tmp_path: Path) -> None:
    """`opsfn local --app` on the example's template: the custom resource at start, a referral
    through the HTTP API (a bearer token as the local caller) and its triage through the
    EventBridge rule, as on AWS."""
    import requests

    from tests.local.conftest import activity, start_local, wait_for

    run = start_local(tmp_path, "--app", APP, "--template", str(EXAMPLE / "template.yaml"),
                      "--parameter", "JwtIssuer=https://issuer.example",
                      "--parameter", "JwtAudience=local", pythonpath=(str(EXAMPLE / "src"),))
    try:
        assert run.info()["customResources"] == {"ClinicDirectory": "SUCCESS"}
        referral = {"department": "cardiology", "reason": "palpitations",
                    "contact": "gp@example.org"}
        assert requests.post(f"{run.url}/clinic/referrals", json=referral,
                             timeout=30).status_code == 401
        posted = requests.post(f"{run.url}/clinic/referrals", json=referral, timeout=30,
                               headers={"Authorization": "Bearer local-practice"})
        assert posted.status_code == 202, posted.text
        triaged = wait_for(lambda: [e for e in activity(run) if e["kind"] == "s3_eventbridge"])
        assert triaged[0]["routes"] == [
            {"route": "s3:${CLINIC_REFERRALS_BUCKET}/referrals/*.json", "ok": True}]
        assert run.stop() == 0
    finally:
        if run.process.poll() is None:
            run.process.kill()

