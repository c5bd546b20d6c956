"""``opsfn package --app``: an application's own project and opsfn in one Lambda zip.

The project is the directory of the ``pyproject.toml`` above the app's module. Its dependencies
are resolved together with opsfn's (one pip resolution for the Lambda platform, through
:func:`opsfn.tooling.packaging.build`); a requirement on ``opsfn`` itself is served by the opsfn
being run, with the extras it names (``opsfn[certs]``). The project is then installed without
dependencies, compiled with the same interpreter, and everything goes into one zip.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opsfn.lazy import load
from opsfn.tooling.packaging import (
    Built,
    PackageError,
    build,
    check_limits,
    compile_tree,
    find_interpreter,
    project_root,
    tree_size,
    write_zip,
)

_REQUIREMENT = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?")
# Extras that never belong in a Lambda zip: the local stack (moto) and development tools.
LOCAL_ONLY_EXTRAS = frozenset({"local", "dev"})


@dataclass(frozen=True, slots=True)
class AppProject:
    """What ``pyproject.toml`` of an application's project says."""

    root: Path
    name: str
    dependencies: tuple[str, ...]  # everything but opsfn itself
    opsfn_extras: str  # comma-separated extras of its opsfn requirement


def normalised(name: str) -> str:
    """A distribution name compared as pip compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_project(root: Path) -> AppProject:
    """The project at ``root``: its name, its own dependencies and the opsfn extras it asks for."""
    import tomllib

    try:
        project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    except (OSError, KeyError, tomllib.TOMLDecodeError) as error:
        raise PackageError(f"{root / 'pyproject.toml'} has no readable [project] table "
                           f"({type(error).__name__})") from None
    own: list[str] = []
    extras: set[str] = set()
    for requirement in project.get("dependencies", []):
        match = _REQUIREMENT.match(requirement)
        if match is None:
            raise PackageError(f"cannot read the requirement {requirement!r}")
        if normalised(match.group(1)) == "opsfn":
            extras |= {e.strip() for e in (match.group(2) or "").split(",") if e.strip()}
        else:
            own.append(requirement)
    if "all" in extras:
        extras = (extras - {"all"}) | {"imaging", "certs", "cache"}
    return AppProject(root, normalised(str(project.get("name", root.name))), tuple(own),
                      ",".join(sorted(extras - LOCAL_ONLY_EXTRAS)))


def project_of(reference: str) -> Path:
    """The directory of the ``pyproject.toml`` nearest above the module ``reference`` names."""
    module = load(reference.partition(":")[0])
    if getattr(module, "__file__", None) is None:
        raise PackageError(f"{reference}: its module has no file to find its project from")
    start = Path(str(module.__file__)).resolve().parent
    try:
        checkout: Path | None = project_root()
    except PackageError:
        checkout = None
    for folder in (start, *start.parents):
        if (folder / "pyproject.toml").is_file():
            if folder == checkout:
                raise PackageError(f"{reference} is part of opsfn itself; `opsfn package` "
                                   "without --app builds it")
            return folder
    raise PackageError(f"no pyproject.toml above {start}: --app needs the project's source")


def install_project(root: Path, tree: Path) -> list[Path]:
    """Install the project alone (no dependencies) into ``tree``; returns what it added."""
    with tempfile.TemporaryDirectory(prefix="opsfn-app-") as scratch:
        target = Path(scratch) / "site"
        result = subprocess.run(  # noqa: S603 - pip of this interpreter, on the user's project
            [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             "--no-deps", "--no-compile", "--target", str(target), str(root)],
            capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise PackageError(f"pip could not install {root}:\n"
                               + (result.stderr or result.stdout)[-3000:])
        added = []
        for path in sorted(target.iterdir()):
            if path.name == "bin" or (tree / path.name).exists():
                if path.name != "bin":
                    raise PackageError(f"{root.name} installs {path.name}, which opsfn's own "
                                       "packages already use")
                continue
            shutil.move(str(path), str(tree / path.name))
            added.append(tree / path.name)
        return added


def build_app(reference: str, arch: str = "arm64", *, python_version: str, output: Path | None,
              tree_dir: Path | None = None, compile_with: str | None = None,
              bytecode: bool = True, make_zip: bool = True, with_sdk: bool = False,
              log: Any = None) -> Built:
    """Build the zip (or tree) of the application ``reference`` with opsfn in it."""
    say = log or (lambda message: None)
    project = read_project(project_of(reference))
    zip_path = (output or project.root / "dist" / f"{project.name}-lambda-{arch}.zip") \
        if make_zip else None
    say(f"project {project.name} at {project.root}: {len(project.dependencies)} own "
        f"requirement(s), opsfn extras [{project.opsfn_extras}]")
    with tempfile.TemporaryDirectory(prefix="opsfn-app-package-") as scratch:
        tree = tree_dir or Path(scratch) / "tree"
        base = build(arch, python_version=python_version, tree_dir=tree, make_zip=False,
                     compile_with=compile_with, bytecode=bytecode, with_sdk=with_sdk, log=log,
                     extras=tuple(e for e in project.opsfn_extras.split(",") if e),
                     also=project.dependencies)
        added = install_project(project.root, tree)
        say(f"installed {', '.join(p.name for p in added)}")
        interpreter = find_interpreter(python_version, compile_with) if base.compiled else None
        for path in added:
            if interpreter is not None and path.is_dir():
                compile_tree(path, interpreter, python_version)
        unzipped, files = tree_size(tree)
        zipped = write_zip(tree, zip_path) if zip_path is not None else 0
        built = Built(zip_path, tree if tree_dir else Path("<removed>"), zipped, unzipped, files,
                      base.compiled, base.interpreter)
    check_limits(built)
    return built

