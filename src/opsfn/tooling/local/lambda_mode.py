"""What ``opsfn local`` needs to run the function as Lambda does, prepared before it starts.

A Python 3.13 with awslambdaric, the locked libraries for it (cached), and a code directory with
opsfn from this checkout and the application's own package. When any of them cannot be had the
caller is told why and keeps today's in-process function (``--in-process`` asks for that).
"""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from opsfn.tooling.local.code_dir import (
    application_dependencies,
    function_code,
    function_dependencies,
    make_writable,
)
from opsfn.tooling.local.environment import FunctionConfig
from opsfn.tooling.local.function import FunctionInfo
from opsfn.tooling.local.lambda_python import LambdaPython, RuntimeUnavailable, find_lambda_python
from opsfn.tooling.local.process_runtime import DEFAULT_MAX_ENVIRONMENTS, ProcessRuntime
from opsfn.tooling.packaging import PackageError

Log = Callable[[str], None]


def application_package(reference: str | None) -> Path | None:
    """The top-level package (or module file) holding the application ``module:attribute``;
    None for opsfn's own routes."""
    if not reference:
        return None
    top = reference.partition(":")[0].split(".")[0]
    if top == "opsfn":
        return None
    spec = importlib.util.find_spec(top)
    if spec is None:
        raise RuntimeUnavailable(f"the application's module {top!r} cannot be found")
    if spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    if spec.origin and spec.origin.endswith(".py"):
        return Path(spec.origin)
    raise RuntimeUnavailable(f"the application's module {top!r} is not Python source")


@dataclass
class LambdaMode:
    """The prepared parts; :meth:`factory` makes the stack's runtime, :meth:`close` cleans up."""

    python: LambdaPython
    code_dir: Path
    libraries: tuple[Path, ...]  # the locked libraries, then the application's own
    log: Log

    def factory(self, function: FunctionInfo, environment: dict[str, str]) -> ProcessRuntime:
        """The out-of-process runtime of the template's function."""
        config = FunctionConfig(
            name=function.name, handler=function.handler, memory_mb=function.memory_mb,
            timeout_s=float(function.timeout_s), region=function.region,
            environment=environment, log_format=function.log_format,
            application_log_level=function.application_log_level,
            snap_start=function.snap_start and not function.max_concurrency,
            max_concurrency=function.max_concurrency)
        limit = function.reserved_concurrency or DEFAULT_MAX_ENVIRONMENTS
        self.log(f"the function runs as Lambda runs it: {self.python.interpreter} -m awslambdaric "
                 f"{function.handler}, up to {limit} environment(s), {function.memory_mb} MB, "
                 f"timeout {function.timeout_s} s, {function.log_format} logs"
                 + (", SnapStart" if function.snap_start else "")
                 + (f", {function.max_concurrency} events per environment (Lambda Managed "
                    "Instances)" if function.max_concurrency else ""))
        return ProcessRuntime(self.python, self.code_dir, config, self.log,
                              layers=self.libraries, max_environments=limit)

    def close(self) -> None:
        """Remove the code directory."""
        remove_tree(self.code_dir)


def remove_tree(tree: Path) -> None:
    """Remove a read-only code directory (left by an earlier run, or this one's)."""
    if tree.exists():
        make_writable(tree)
        shutil.rmtree(tree, ignore_errors=True)


def prepare(reference: str | None, log: Log, state_dir: Path) -> LambdaMode:
    """Find or install what the out-of-process function needs (RuntimeUnavailable: why not,
    e.g. no Python 3.13, no package index, or opsfn installed without its source checkout).
    The code directory is ``STATE_DIR/function``, made anew on every start."""
    try:
        python = find_lambda_python()
        libraries = function_dependencies(interpreter=python.interpreter, log=log)
        package = application_package(reference)
        own = application_dependencies(reference)
    except PackageError as error:
        raise RuntimeUnavailable(str(error)) from None
    code_dir = (state_dir / "function").resolve()
    remove_tree(code_dir)  # an earlier run's, stopped before it could clean up
    try:
        code = function_code(code_dir, interpreter=python.interpreter,
                             modules=(package,) if package else ())
    except Exception as error:
        remove_tree(code_dir)
        if isinstance(error, PackageError):
            raise RuntimeUnavailable(str(error)) from None
        raise
    return LambdaMode(python, code, (libraries, *((own,) if own else ())), log)
