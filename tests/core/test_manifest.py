"""The route manifest matches the routers, and the handler registers routes without importing them."""

from __future__ import annotations

import subprocess
import sys

from opsfn.core import manifest
from opsfn.core.app import App
from opsfn.handler import app as lazy_app
from opsfn.routes import builtin_routers
from opsfn.routes import manifest as builtin_manifest


def test_manifest_is_current() -> None:
    assert builtin_manifest.main(["--check"]) == 0, "run: python -m opsfn.routes.manifest --write"


def test_lazy_registry_equals_eager_registry() -> None:
    eager = App(builtin_routers())
    assert [(r.source, r.spec, r.handler_name) for r in lazy_app.registry.routes] == [
        (r.source, r.spec, r.handler_name) for r in eager.registry.routes]
    assert lazy_app.registry.counts() == eager.registry.counts()


def test_specs_round_trip_through_json() -> None:
    for router in builtin_routers():
        for route in router.routes:
            data = manifest.spec_to_json(route.spec)
            assert manifest.spec_from_json(route.source, data) == route.spec


def test_handler_import_loads_no_route_module_and_no_pydantic() -> None:
    code = ("import sys, opsfn.handler; print(sorted(m for m in sys.modules if "
            "m.startswith(('opsfn.routes.', 'pydantic', 'boto3', 'aws_lambda_powertools'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    # The built-in domains' declarations and the manifest's loader only: not one route module.
    assert out.stdout.strip() == "['opsfn.routes.domains', 'opsfn.routes.manifest']"


def test_first_call_imports_only_that_route_module() -> None:
    code = ("import sys, opsfn.handler as h; h.lambda_handler({'action': 'health'}, None); "
            "print(sorted(m for m in sys.modules if m.startswith('opsfn.routes.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"POWERTOOLS_METRICS_DISABLED": "true", "PATH": ""})
    assert out.stdout.strip().splitlines()[-1] == \
        "['opsfn.routes.domains', 'opsfn.routes.health', 'opsfn.routes.manifest']"
