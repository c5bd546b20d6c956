"""The Python runtime's own parts on this machine: a Python 3.13 and its interface client.

Lambda's python3.13 runtime is CPython 3.13 with ``awslambdaric`` (the bootstrap that talks to
the Runtime API) and the AWS SDK beside the function's code. To run the shipped code as Lambda
does, the same interpreter version and client are needed: the interpreter is found where
``opsfn package`` finds one, the client (and what it imports) is installed once from PyPI as
3.13 wheels for this machine into a cache directory, never into the development environment.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from opsfn.tooling.packaging import find_interpreter, no_interpreter_message

RUNTIME_PYTHON = "3.13"
# The interface client of the Lambda Python runtime and what its bootstrap imports, pinned so
# every machine runs the same client (installed with --no-deps: nothing else comes along).
RIC_REQUIREMENTS = ("awslambdaric==4.2.2", "simplejson==4.3.0", "snapshot-restore-py==1.0.0")


class RuntimeUnavailable(Exception):
    """No Python 3.13 or no interface client for it could be had (the message says why)."""


@dataclass(frozen=True, slots=True)
class LambdaPython:
    """An interpreter and the directory holding the runtime's modules for it."""

    interpreter: str
    runtime_dir: Path


def machine() -> str:
    """The wheel platform tag's machine of this host (``x86_64`` or ``aarch64``)."""
    return {"arm64": "aarch64", "aarch64": "aarch64"}.get(platform.machine().lower(), "x86_64")


def cache_root(environ: dict[str, str] | None = None) -> Path:
    """``$OPSFN_CACHE_DIR``, else ``$XDG_CACHE_HOME/opsfn``, else ``~/.cache/opsfn``."""
    env = os.environ if environ is None else environ
    if env.get("OPSFN_CACHE_DIR"):
        return Path(env["OPSFN_CACHE_DIR"])
    return Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "opsfn"


def runtime_dir_for(version: str = RUNTIME_PYTHON, root: Path | None = None) -> Path:
    """Where the interface client for ``version`` is (or will be) installed."""
    pins = hashlib.sha256(" ".join(RIC_REQUIREMENTS).encode()).hexdigest()[:12]
    client = RIC_REQUIREMENTS[0].replace("==", "")
    return (root or cache_root()) / f"runtime-py{version}-{machine()}-{client}-{pins}"


def install_command(target: Path, version: str) -> list[str]:
    """pip, of this interpreter, installing the client's wheels for ``version`` into ``target``."""
    abi = "cp" + version.replace(".", "")
    return [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
            "--no-compile", "--no-deps", "--target", str(target), "--only-binary=:all:",
            "--implementation", "cp", "--python-version", version, "--abi", abi,
            "--abi", "abi3", "--abi", "none", "--platform", f"manylinux2014_{machine()}",
            "--platform", f"manylinux_2_17_{machine()}", *RIC_REQUIREMENTS]


def ensure_runtime_dir(version: str = RUNTIME_PYTHON, root: Path | None = None) -> Path:
    """The client's directory, installed on first use (a marker file says it is complete)."""
    target = runtime_dir_for(version, root)
    marker = target / ".complete"
    if marker.is_file():
        return target
    partial = target.with_name(target.name + f".partial-{os.getpid()}")
    partial.parent.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(install_command(partial, version),  # noqa: S603 - pip of this Python
                          capture_output=True, text=True, check=False, timeout=600)
    if done.returncode != 0:
        raise RuntimeUnavailable(f"pip could not install {', '.join(RIC_REQUIREMENTS)} for Python "
                                 f"{version}: {(done.stderr or done.stdout).strip()[-800:]}")
    (partial / ".complete").write_text("\n".join(RIC_REQUIREMENTS) + "\n")
    try:
        partial.rename(target)
    except OSError:  # another process finished first: use its copy
        shutil.rmtree(partial, ignore_errors=True)
    if not marker.is_file():
        raise RuntimeUnavailable(f"{target} is incomplete; remove it and try again")
    return target


def find_lambda_python(version: str = RUNTIME_PYTHON, explicit: str | None = None
                       ) -> LambdaPython:
    """A Python ``version`` and the interface client for it, or :class:`RuntimeUnavailable`."""
    interpreter = find_interpreter(version, explicit)
    if interpreter is None:
        raise RuntimeUnavailable(no_interpreter_message(version))
    return LambdaPython(interpreter, ensure_runtime_dir(version))
