#!/usr/bin/env python3
"""Set up and run opsfn on a machine that has only Python 3.11+ and pip.

    python3 dev.py local     # the whole stack on this machine: moto + HTTP on :3000 + upload page
    python3 dev.py test      # the test suite (what CI runs)
    python3 dev.py lint      # ruff and mypy --strict
    python3 dev.py bench     # every benchmark under bench/

Each command first makes `.venv` (once) and installs the package with its extras there whenever
pyproject.toml changed. `test` also installs the Debian packages some tests need (redis-server,
dcmtk, chromium, nodejs and npm) when it runs as root on a Debian-like system; elsewhere those
tests say what is missing and are skipped.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".opsfn-installed"
DEBIAN_PACKAGES = {"redis-server": "redis-server", "dcm2pnm": "dcmtk", "chromium": "chromium",
                   "chromedriver": "chromium-driver", "node": "nodejs", "npm": "npm"}


def say(message: str) -> None:
    print(f"[dev] {message}", flush=True)


def run(*args: str | Path, env: dict[str, str] | None = None) -> int:
    return subprocess.call([str(a) for a in args], cwd=ROOT, env=env)


def ensure_venv() -> None:
    """Create .venv and (re)install the package when pyproject.toml changed."""
    if sys.version_info < (3, 11):
        sys.exit("opsfn needs Python 3.11 or newer")
    if not PYTHON.exists():
        say("creating .venv")
        venv.EnvBuilder(with_pip=True).create(VENV)
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == digest:
        return
    say("installing opsfn with its extras into .venv (first run takes a few minutes)")
    quiet = ["--quiet", "--disable-pip-version-check"]
    if run(PYTHON, "-m", "pip", "install", *quiet, "--upgrade", "pip") != 0:
        sys.exit("pip upgrade failed")
    if run(PYTHON, "-m", "pip", "install", *quiet, "-e", ".[dev]") != 0:
        sys.exit("installing opsfn failed")
    STAMP.write_text(digest)


def ensure_system_packages() -> None:
    """Install the Debian packages tests use, when this is root on a Debian-like machine."""
    missing = sorted({pkg for cmd, pkg in DEBIAN_PACKAGES.items() if shutil.which(cmd) is None})
    if not missing:
        return
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        say(f"not installed: {', '.join(missing)} (tests that need them are skipped)")
        return
    say(f"installing Debian packages: {', '.join(missing)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if run(apt, "update", "-qq", env=env) != 0 or run(
        apt, "install", "-y", "-qq", "--no-install-recommends", *missing, env=env
    ) != 0:
        say("apt-get failed; tests that need those packages are skipped")


def cmd_local(args: list[str]) -> int:
    ensure_venv()
    return run(BIN / "opsfn", "local", *args)


def cmd_test(args: list[str]) -> int:
    ensure_venv()
    ensure_system_packages()
    return run(PYTHON, "-m", "pytest", *args)


def cmd_lint(args: list[str]) -> int:
    ensure_venv()
    status = run(BIN / "ruff", "check", "src", "tests", "bench", "dev.py")
    return status or run(BIN / "mypy", *args)


def cmd_bench(args: list[str]) -> int:
    ensure_venv()
    ensure_system_packages()
    status = 0
    for script in sorted((ROOT / "bench").glob("*.py")):
        say(f"bench/{script.name}")
        status |= run(PYTHON, script, *args)
    return status


COMMANDS = {"local": cmd_local, "test": cmd_test, "lint": cmd_lint, "bench": cmd_bench}


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(__doc__)
        return 2
    return COMMANDS[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
