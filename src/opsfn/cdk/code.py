"""The function's code asset: the tree ``opsfn package`` builds, built once per source change.

``opsfn package`` resolves Lambda-platform wheels with pip, which takes seconds even from a warm
cache; a CDK app synthesizes far more often than the sources change. The tree is therefore built
into a cache directory with a stamp (a digest of pyproject.toml, the opsfn sources and the build
options) and rebuilt only when the stamp no longer matches.
"""

from __future__ import annotations

import hashlib
import shutil
import sys
from pathlib import Path

from opsfn.tooling import packaging

STAMP = ".opsfn-package-inputs"


def inputs_digest(root: Path, arch: str, python_version: str) -> str:
    """What the tree is built from: the options, pyproject.toml and every file of the package."""
    digest = hashlib.sha256(f"{arch}|{python_version}|{packaging.EXTRAS}".encode())
    digest.update((root / "pyproject.toml").read_bytes())
    source = root / "src" / "opsfn"
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        if not path.is_file() or not packaging.shipped(relative):
            continue
        digest.update(relative.as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def default_directory(arch: str) -> Path:
    """``build/cdk/opsfn-lambda-<arch>`` of the source checkout (ignored by git)."""
    return packaging.project_root() / "build" / "cdk" / f"opsfn-lambda-{arch}"


def _say(message: str) -> None:
    sys.stderr.write(f"opsfn.cdk: {message}\n")


def build_package(arch: str = "arm64", directory: Path | None = None, *,
                  python_version: str = packaging.RUNTIME_PYTHON) -> Path:
    """The unzipped package tree for ``arch``: reused when its inputs are unchanged, else rebuilt."""
    root = packaging.project_root()
    tree = directory or default_directory(arch)
    wanted = inputs_digest(root, arch, python_version)
    stamp = tree.parent / f"{tree.name}{STAMP}"
    if tree.is_dir() and stamp.is_file() and stamp.read_text() == wanted:
        return tree
    if tree.exists():
        shutil.rmtree(tree)
    stamp.unlink(missing_ok=True)
    tree.parent.mkdir(parents=True, exist_ok=True)
    _say(f"building the Lambda package for {arch} into {tree}")
    packaging.build(arch, python_version=python_version, tree_dir=tree, make_zip=False, log=_say)
    stamp.write_text(wanted)  # written last: an interrupted build is never reused
    return tree


def code_path(prebuilt: str | Path | None, arch: str) -> Path:
    """A prebuilt zip or tree (checked), or the tree built by :func:`build_package`."""
    if prebuilt is None:
        return build_package(arch)
    path = Path(prebuilt)
    if path.is_file() and path.suffix == ".zip":
        return path
    if path.is_dir() and (path / "opsfn" / "handler.py").is_file():
        return path
    raise ValueError(f"{path} is neither a zip nor a package tree with opsfn/handler.py "
                     "(build one with `opsfn package`)")
