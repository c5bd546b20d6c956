"""OPSFN_ROUTES: a function serving a group of routes, or every route but a group."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from opsfn.core.groups import domain_of, limited, select
from opsfn.handler import app as builtin_app

ROUTES = list(builtin_app.registry.routes)


def _labels(spec: str) -> set[str]:
    return {r.label for r in select(ROUTES, spec)}


def test_a_domain_keys_and_functions_select_routes() -> None:
    imaging = _labels("imaging")
    assert imaging == {"POST /request-upload", "s3:${UPLOAD_BUCKET}/uploads/*", "GET /get-results"}
    assert _labels("GET /health, action:health") == {"GET /health", "action:health"}
    assert _labels("opsfn.routes.health.health_http") == {"GET /health"}


def test_minus_leaves_routes_out_and_both_compose() -> None:
    rest = _labels("-imaging")
    assert rest == {r.label for r in ROUTES} - _labels("imaging")
    assert _labels("imaging,-GET /get-results") == _labels("imaging") - {"GET /get-results"}


def test_an_entry_naming_no_route_is_refused() -> None:
    with pytest.raises(ValueError, match="names no route: imagin"):
        select(ROUTES, "imagin")
    with pytest.raises(ValueError, match="names no route: GET /nowhere"):
        select(ROUTES, "-GET /nowhere")


def test_domains_are_packages() -> None:
    assert {domain_of(r) for r in ROUTES} == {"health", "imaging", "incidents", "database", "etl",
                                              "tls", "ses", "exports"}


def test_no_spec_leaves_the_app_as_it_is() -> None:
    assert limited(builtin_app, None) is builtin_app
    assert limited(builtin_app, " ") is builtin_app
    assert [r.label for r in limited(builtin_app, "health").registry.routes] == [
        "action:health", "GET /health"]


def _serve(spec: str, event: dict[str, object]) -> dict[str, object]:
    code = ("import json, sys, opsfn.handler as h\n"
            "labels = sorted(r.label for r in h.app.registry.routes)\n"
            "try:\n    out = h.lambda_handler(json.loads(sys.argv[1]), None)\n"
            "except Exception as e:\n    out = {'raised': type(e).__name__}\n"
            "print(json.dumps({'labels': labels, 'out': out}, default=str))")
    done = subprocess.run([sys.executable, "-c", code, json.dumps(event)], capture_output=True,
                          text=True, check=True, timeout=60,
                          env={"OPSFN_ROUTES": spec, "POWERTOOLS_METRICS_DISABLED": "true",
                               "PATH": ""})
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_the_handler_serves_only_its_group() -> None:
    group = _serve("health", {"action": "health"})
    assert group["labels"] == ["GET /health", "action:health"]
    assert isinstance(group["out"], dict) and group["out"].get("status") == "ok"
    rest = _serve("-health", {"action": "health"})
    assert "action:health" not in rest["labels"] and "GET /get-results" in rest["labels"]
    assert rest["out"] == {"raised": "NotFound"}
