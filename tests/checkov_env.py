"""checkov, run from a virtual environment of its own in opsfn's cache.

checkov 3.3 pins boto3 1.35, packaging 23 and networkx 2, below what the locks and the dev tools
pin, so it cannot share .venv: the first use makes ``<cache>/checkov-<version>-py<X.Y>`` with pip
(the package index must be reachable then), and later uses find it there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

from opsfn.tooling.local.lambda_python import cache_root

VERSION = "3.3.30"
MISSING = f"checkov {VERSION} could not be installed into its own environment"


def _bin(root: Path) -> Path:
    return root / ("Scripts" if os.name == "nt" else "bin") / "checkov"


def checkov() -> Path | None:
    """The checkov executable, installing it on first use; None when that fails.

    A virtual environment cannot be moved (its scripts name their interpreter's path), so it is
    made in place and marked complete only once pip has finished.
    """
    root = cache_root() / f"checkov-{VERSION}-py{sys.version_info[0]}.{sys.version_info[1]}"
    complete = root / ".opsfn-complete"
    if complete.is_file() and _bin(root).is_file():
        return _bin(root)
    shutil.rmtree(root, ignore_errors=True)  # a half-made one from an interrupted run
    venv.EnvBuilder(with_pip=True).create(root)
    python = root / ("Scripts" if os.name == "nt" else "bin") / "python"
    done = subprocess.run([str(python), "-m", "pip", "install", "--quiet",
                           "--disable-pip-version-check", f"checkov=={VERSION}"],
                          capture_output=True, text=True, timeout=900, check=False)
    if done.returncode != 0 or not _bin(root).is_file():
        return None
    complete.write_text(VERSION)
    return _bin(root)
