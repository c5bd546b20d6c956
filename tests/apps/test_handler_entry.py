"""Importing opsfn changes nothing in the host process; only Lambda's own entry freezes the
collector; the handler serves the app OPSFN_APP names."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROBE = (
    "import gc, json, logging, os, sys\n"
    "before = (dict(os.environ), list(sys.path), list(logging.getLogger().handlers),\n"
    "          gc.isenabled(), gc.get_threshold(), sys.getrecursionlimit())\n"
    "import opsfn, opsfn.handler, opsfn.testing, opsfn.router\n"
    "from opsfn import App, builtin\n"
    "App([builtin()])\n"
    "after = (dict(os.environ), list(sys.path), list(logging.getLogger().handlers),\n"
    "         gc.isenabled(), gc.get_threshold(), sys.getrecursionlimit())\n"
    "print(json.dumps({'frozen': gc.get_freeze_count(), 'same': before == after}))\n"
)


def _run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT),
            "POWERTOOLS_METRICS_DISABLED": "true", "AWS_REGION": "us-east-1"}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, env={**base, **env}, timeout=60)


def test_importing_opsfn_as_a_library_does_nothing_global() -> None:
    seen = json.loads(_run(PROBE).stdout.strip().splitlines()[-1])
    assert seen == {"frozen": 0, "same": True}
    # In a Lambda function whose handler is someone else's, importing opsfn freezes nothing either.
    other = json.loads(_run(PROBE, AWS_LAMBDA_RUNTIME_API="127.0.0.1:9001",
                            AWS_LAMBDA_FUNCTION_NAME="theirs", _HANDLER="app.handler"
                            ).stdout.strip().splitlines()[-1])
    assert other["frozen"] == 0


def test_lambdas_own_entry_freezes_the_collector() -> None:
    code = "import gc, opsfn.handler; print(gc.get_freeze_count())"
    frozen = _run(code, AWS_LAMBDA_RUNTIME_API="127.0.0.1:9001", AWS_LAMBDA_FUNCTION_NAME="opsfn",
                  _HANDLER="opsfn.handler.lambda_handler")
    assert int(frozen.stdout.strip()) > 0


def test_the_handler_serves_the_app_opsfn_app_names() -> None:
    code = ("import json, opsfn.handler as h\n"
            "from opsfn.testing import http_v2_event\n"
            "reply = h.lambda_handler(http_v2_event('GET', '/open'), None)\n"
            "health = h.lambda_handler({'action': 'health'}, None)\n"
            "print(json.dumps([reply['statusCode'], health['routes']['http']]))\n")
    served = json.loads(_run(code, OPSFN_APP="tests.local.stack_app:app").stdout.splitlines()[-1])
    assert served == [200, 4]
    builtin = json.loads(_run(code.replace("'/open'", "'/health'")).stdout.splitlines()[-1])
    assert builtin == [200, 6]
