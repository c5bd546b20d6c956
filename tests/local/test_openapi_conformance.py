"""Schemathesis against `opsfn local`: the OpenAPI document promises what the routes do.

Every check runs, positive and negative data, on the built-in app (its operator routes signed
with SigV4, the template's default authorizer) and on tests/local/stack_app.py (a JWT route and
an IAM route): no schema-valid request may be refused, no schema-invalid one accepted, no status
or body may be undocumented and nothing may answer 5xx.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.local.conftest import ROOT, LocalRun, _finish, start_local

pytest.importorskip("schemathesis", reason="schemathesis is not installed (pip install -e '.[dev]')")

HOOKS = "tests.local.schemathesis_auth"
MAX_EXAMPLES = 25  # per operation and phase: a few hundred requests, deterministic


def _document(tmp_path: Path, app: str | None, default_auth: str | None) -> Path:
    """`opsfn openapi` as the stack's deployment sees it (its default authorizer)."""
    args = [sys.executable, "-m", "opsfn.tooling.cli", "openapi"] + (["--app", app] if app else [])
    env = {k: v for k, v in os.environ.items() if k not in ("OPSFN_APP", "OPSFN_DEFAULT_AUTH")}
    if default_auth:
        env["OPSFN_DEFAULT_AUTH"] = default_auth
    document = subprocess.run(args, capture_output=True, text=True, check=True, env=env, cwd=ROOT)
    path = tmp_path / "openapi.json"
    path.write_text(document.stdout)
    return path


CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_headers_conformance", "response_schema_conformance",
          "negative_data_rejection", "positive_data_acceptance", "missing_required_header",
          "unsupported_method", "allow_header_conformance", "use_after_free",
          "ensure_resource_availability", "ignored_auth", "object_level_authorization")


def jwt_operations(document: dict[str, Any]) -> list[tuple[str, str]]:
    """(method, path) of every operation a JWT alone admits."""
    return [(method.upper(), path) for path, methods in document["paths"].items()
            for method, operation in methods.items()
            if operation["security"] and all("jwt" in r for r in operation["security"])]


def config(document: dict[str, Any]) -> str:
    """schemathesis.toml: every check, except ignored_auth on JWT operations. opsfn local takes
    any bearer token unverified (tooling/local/local_auth.py: the HTTP API's JWT authorizer is
    not emulated), so an invalid JWT passing is the stack's, not the document's; the test
    asserts those operations' 401 without a token instead."""
    lines = [f"checks.{check}.enabled = true" for check in CHECKS]
    for method, path in jwt_operations(document):
        lines += ["", "[[operations]]", f'include-path = "{path}"',
                  f'include-method = "{method}"', "checks.ignored_auth.enabled = false"]
    return "\n".join(lines) + "\n"


def _schemathesis(document: Path, run: LocalRun, tmp_path: Path) -> tuple[int, str]:
    """`st run` with every check, positive and negative data; (exit code, output)."""
    settings = tmp_path / "schemathesis.toml"
    settings.write_text(config(json.loads(document.read_text())))
    env = {**os.environ, "SCHEMATHESIS_HOOKS": HOOKS, "OPSFN_TEST_BASE_URL": run.url,
           "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    done = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "--config-file", str(settings), "run",
         str(document), "--url", run.url,
         "--mode", "all", "--max-examples", str(MAX_EXAMPLES),
         "--generation-deterministic", "--workers", "1", "--no-color", "--request-timeout", "30"],
        check=False, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=240)
    return done.returncode, done.stdout + done.stderr


def _tested_operations(output: str) -> int:
    for line in output.splitlines():
        if line.strip().startswith("Tested:"):
            return int(line.split(":")[1])
    raise AssertionError(f"no operation count in:\n{output}")


def _generated(output: str) -> int:
    lines = output.splitlines()
    for index, line in enumerate(lines):
        if line.strip() == "Test cases:":
            return int(lines[index + 1].split()[0])
    raise AssertionError(f"no test case count in:\n{output}")


STACKS = {  # app: (opsfn local arguments, the template's OPSFN_DEFAULT_AUTH)
    "builtin": ((), "iam"),  # infra/template.yaml
    "tests.local.stack_app:app": (("--template", str(ROOT / "tests/local/stack_template.yaml")),
                                  None),
}


@pytest.fixture(params=list(STACKS), scope="module")
def own_stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[tuple[str, LocalRun]]:
    """A stack of the test's own: a few hundred requests would push what other tests look for
    out of a shared stack's activity panel."""
    app = request.param
    args = () if app == "builtin" else ("--app", app, *STACKS[app][0])
    run = start_local(tmp_path_factory.mktemp("openapi-stack"), *args)
    yield app, run
    _finish(run)


@pytest.mark.slow
def test_the_openapi_document_is_what_the_stack_does(own_stack: tuple[str, LocalRun],
                                                     tmp_path: Path) -> None:
    name, run = own_stack
    app = None if name == "builtin" else name
    default_auth = STACKS[name][1]
    document = _document(tmp_path, app, default_auth)
    code, output = _schemathesis(document, run, tmp_path)
    paths = json.loads(document.read_text())["paths"]
    operations = sum(len(methods) for methods in paths.values())
    assert code == 0, output[-6000:]
    assert _tested_operations(output) == operations, output[-3000:]
    assert _generated(output) >= 2 * operations, output[-3000:]
    # Every authenticated operation was reached with its credentials: 401 only when left out.
    assert "Authentication failed" not in output, output[-3000:]
    assert "Schema-valid request rejected" not in output and "Server error" not in output
    for method, path in jwt_operations(json.loads(document.read_text())):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(urllib.request.Request(f"{run.url}{path}", method=method),
                                   timeout=10)
        assert refused.value.code == 401
        assert json.loads(refused.value.read()) == {"error": "unauthorized",
                                                    "message": "unauthorized"}
    print(f"{name}: {_generated(output)} test cases, {operations} operations")
