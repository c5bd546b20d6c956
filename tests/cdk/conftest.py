"""The example CDK app, synthesized once for every test here (jsii synth takes tens of seconds).

The app runs as an operator runs it, ``python infra/cdk/app.py``, with the Lambda tree that
``opsfn.cdk.build_package`` builds (the packaging code ``opsfn package`` runs). It needs node
(jsii runs aws-cdk-lib on it: the dev extra's Node 24 wheel, see tests/nodejs.py) and aws-cdk-lib
(the ``cdk`` extra); without them the tests that synthesize say so and are skipped.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests import nodejs

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "infra" / "cdk" / "app.py"
STACK = "OpenemrOpsStack"


def cdk_missing() -> str | None:
    """Why the CDK tests cannot run here, or None."""
    if nodejs.node() is None:
        return f"no node for jsii: {nodejs.MISSING}"
    if importlib.util.find_spec("aws_cdk") is None:
        return "aws-cdk-lib is not installed (pip install -e '.[cdk]')"
    return None


def node_environment() -> dict[str, str]:
    """The environment for a synth: jsii runs the wheel's node, whatever node the machine has."""
    return nodejs.environment()


@pytest.fixture(scope="session")
def lambda_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package tree, built by the construct's packaging path (pip, Lambda wheels)."""
    from opsfn.cdk.code import build_package

    return build_package("arm64", tmp_path_factory.mktemp("package") / "opsfn-lambda-arm64")


@dataclass(frozen=True)
class Synthesized:
    path: Path
    template: dict[str, Any]
    stderr: str  # what the app and jsii printed

    @property
    def resources(self) -> dict[str, Any]:
        return self.template["Resources"]  # type: ignore[no-any-return]

    def of_type(self, kind: str) -> dict[str, Any]:
        return {n: r for n, r in self.resources.items() if r["Type"] == kind}


@pytest.fixture(scope="session")
def synthesized(lambda_tree: Path, tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """``python infra/cdk/app.py`` into a fresh cdk.out."""
    reason = cdk_missing()
    if reason:
        pytest.skip(reason)
    out = tmp_path_factory.mktemp("cdk.out")
    env = {**node_environment(), "CDK_OUTDIR": str(out), "OPSFN_CDK_CODE": str(lambda_tree)}
    result = subprocess.run([sys.executable, str(APP)], cwd=APP.parent, env=env,
                            capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-4000:]
    path = out / f"{STACK}.template.json"
    return Synthesized(path, json.loads(path.read_text()), result.stderr)
