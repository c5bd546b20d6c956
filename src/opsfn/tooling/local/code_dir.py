"""The function's code directory for an out-of-process run: the shipped zip, or a light tree.

``opsfn local`` runs :func:`function_code` (opsfn from this checkout, and the application)
with :func:`function_dependencies` (the locked libraries and the SDK, cached) after it.

Lambda unpacks the zip into a read-only ``/var/task``. :func:`from_zip` does the same with the
zip ``opsfn package`` built. :func:`light_tree` is quicker: the modules ``opsfn package`` ships
(the same selection), the locked pydantic for Python 3.13 on this machine (cached) and the
application modules given, without the route libraries (numpy, Pillow, cryptography) that only
some routes import. Either is made read-only, as ``/var/task`` is.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import zipfile
from collections.abc import Callable
from pathlib import Path

from opsfn.tooling import app_package, dependency_locks, packaging
from opsfn.tooling.local.lambda_python import RUNTIME_PYTHON, RuntimeUnavailable, cache_root, machine

# What the request path imports besides opsfn: pydantic and its own dependencies.
LIGHT_DISTRIBUTIONS = ("pydantic", "pydantic-core", "typing-extensions", "annotated-types",
                       "typing-inspection")


def make_read_only(tree: Path) -> None:
    """Take write permission away from every file and directory under ``tree``."""
    for path in [*tree.rglob("*"), tree]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode & ~0o222)


def make_writable(tree: Path) -> None:
    """Give write permission back (before removing a tree)."""
    for path in [tree, *tree.rglob("*")]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | 0o200)


def from_zip(zip_path: Path, into: Path) -> Path:
    """Unpack a Lambda zip into ``into`` (keeping executable bits) and make it read-only."""
    into.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(zip_path) as archive:
        for info in archive.infolist():
            target = Path(archive.extract(info, into))
            mode = (info.external_attr >> 16) & 0o777
            if mode and target.is_file():
                target.chmod(mode)
    make_read_only(into)
    return into


def _light_dependencies(root: Path, version: str, arch: str) -> Path:
    """The locked pydantic stack for ``version`` installed once into the cache."""
    lock = dependency_locks.load(root, version, arch)
    wanted = {dependency_locks.normalise(name) for name in LIGHT_DISTRIBUTIONS}
    pins = {name: pin for name, pin in lock.pins.items() if dependency_locks.normalise(name) in wanted}
    key = "-".join(f"{name}{pin.version}" for name, pin in sorted(pins.items()))
    target = cache_root() / f"light-py{version}-{arch}-{key}"
    if (target / ".complete").is_file():
        return target
    partial = target.with_name(f"{target.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    requirements = partial / "requirements.txt"
    requirements.write_text(lock.requirements_text(
        [name for name in lock.pins if dependency_locks.normalise(name) not in wanted]))
    command = packaging.pip_command(requirements, partial / "site", arch, version)
    done = subprocess.run(command, capture_output=True, text=True, check=False,  # noqa: S603
                          timeout=600)
    if done.returncode != 0:
        raise RuntimeUnavailable("pip could not install the locked pydantic for Python "
                                 f"{version}: {(done.stderr or done.stdout)[-800:]}")
    (partial / ".complete").write_text(key + "\n")
    _publish(partial, target)
    return target


def _publish(partial: Path, target: Path) -> None:
    """Move a finished cache entry into place; when another process finished first, keep its."""
    try:
        partial.rename(target)
    except OSError:
        make_writable(partial)
        shutil.rmtree(partial, ignore_errors=True)
    if not (target / ".complete").is_file():
        raise RuntimeUnavailable(f"{target} is incomplete; remove it and try again")


def light_tree(into: Path, *, modules: tuple[Path, ...] = (), interpreter: str | None = None,
               version: str = RUNTIME_PYTHON) -> Path:
    """opsfn as shipped, the locked pydantic and ``modules`` (files or packages), read-only;
    compiled with ``interpreter`` when given, as the zip is."""
    root = packaging.project_root()
    arch = "arm64" if machine() == "aarch64" else "x86_64"
    dependencies = _light_dependencies(root, version, arch) / "site"
    into.mkdir(parents=True, exist_ok=True)
    for path in dependencies.iterdir():
        if path.name == "bin":
            continue
        copy = shutil.copytree if path.is_dir() else shutil.copy2
        copy(path, into / path.name)
    packaging.copy_package(root, into)
    for module in modules:
        copy = shutil.copytree if module.is_dir() else shutil.copy2
        copy(module, into / module.name)
    if interpreter is not None:
        packaging.compile_tree(into, interpreter, version)
    make_read_only(into)
    return into


def function_dependencies(*, interpreter: str, version: str = RUNTIME_PYTHON,
                          log: Callable[[str], None] | None = None) -> Path:
    """Everything the function imports besides opsfn, as ``opsfn package`` installs it for this
    machine, with the SDK (the runtime's part on Lambda): read-only in the cache, rebuilt when
    the lock changes. opsfn itself is copied fresh for each run (:func:`function_code`)."""
    root = packaging.project_root()
    arch = "arm64" if machine() == "aarch64" else "x86_64"
    digest = hashlib.sha256(dependency_locks.lock_path(root, version, arch).read_bytes()).hexdigest()[:16]
    target = cache_root() / f"function-deps-py{version}-{arch}-{digest}"
    if (target / ".complete").is_file():
        return target / "site"
    partial = target.with_name(f"{target.name}.partial-{os.getpid()}")
    if partial.exists():
        make_writable(partial)
        shutil.rmtree(partial)
    partial.mkdir(parents=True)
    try:
        packaging.build(arch, python_version=version, tree_dir=partial / "site",
                        compile_with=interpreter, make_zip=False, with_sdk=True, log=log)
    except packaging.PackageError as error:
        raise RuntimeUnavailable(f"the function's libraries could not be installed: {error}"
                                 ) from None
    shutil.rmtree(partial / "site" / "opsfn")  # copied fresh for each run
    make_read_only(partial / "site")
    (partial / ".complete").write_text(digest + "\n")
    _publish(partial, target)
    return target / "site"


def application_dependencies(reference: str | None, *, version: str = RUNTIME_PYTHON
                             ) -> Path | None:
    """What an application's project needs besides opsfn (its ``pyproject.toml`` dependencies,
    the lock's packages held at their pins), installed for Lambda's platform once into the cache,
    as ``opsfn package --app`` installs it; None for opsfn's own routes or a project that needs
    nothing more. The cache entry is keyed by the requirements and the lock."""
    if not reference or reference.partition(":")[0].split(".")[0] == "opsfn":
        return None
    try:
        project = app_package.read_project(app_package.project_of(reference))
    except packaging.PackageError:
        return None  # a module outside any project: nothing declared beyond opsfn
    if not project.dependencies:
        return None
    root = packaging.project_root()
    arch = "arm64" if machine() == "aarch64" else "x86_64"
    lock_text = packaging.lock_requirements(root, arch, version, with_sdk=True)
    key = hashlib.sha256("\n".join([*sorted(project.dependencies), lock_text]).encode()
                         ).hexdigest()[:16]
    target = cache_root() / f"app-deps-py{version}-{arch}-{key}"
    if (target / ".complete").is_file():
        return target / "site"
    partial = target.with_name(f"{target.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    (partial / "site").mkdir(parents=True)
    try:
        packaging.install_constrained(list(project.dependencies), lock_text, partial / "site",
                                      partial, arch=arch, python_version=version)
    except packaging.PackageError as error:
        raise RuntimeUnavailable(str(error)) from None
    shutil.rmtree(partial / "app-site", ignore_errors=True)
    make_read_only(partial / "site")
    (partial / ".complete").write_text(key + "\n")
    _publish(partial, target)
    return target / "site"


def function_code(into: Path, *, interpreter: str, modules: tuple[Path, ...] = (),
                  version: str = RUNTIME_PYTHON) -> Path:
    """opsfn as ``opsfn package`` ships it from this checkout (compiled for ``version``) and
    ``modules`` (an application's packages, compiled as they are imported), read-only."""
    into.mkdir(parents=True, exist_ok=True)
    packaging.copy_package(packaging.project_root(), into)
    packaging.compile_tree(into / "opsfn", interpreter, version)
    for module in modules:
        if module.is_dir():
            shutil.copytree(module, into / module.name, ignore=shutil.ignore_patterns(
                "__pycache__", "*.pyc", "node_modules", ".*"))
        else:
            shutil.copy2(module, into / module.name)
    make_read_only(into)
    return into
