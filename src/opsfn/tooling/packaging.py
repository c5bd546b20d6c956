"""``opsfn package``: the Lambda deployment zip, built from Lambda-platform wheels without Docker.

pip resolves the project and the extras the built-in routes need for the target platform
(``--platform manylinux2014_<arch> --only-binary=:all:``), so an arm64 zip can be built on an
x86_64 laptop. Tests, caches, C headers and pydicom's bundled test data are stripped, bytecode is
compiled when an interpreter of the target Python version is available (a ``.pyc`` is only valid
for the exact minor version that wrote it), and the result is checked against Lambda's limits.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ARCHES = {"arm64": "aarch64", "x86_64": "x86_64"}
RUNTIME_PYTHON = "3.13"  # the template's runtime: python3.13
EXTRAS = "imaging,certs,cache"  # what the built-in routes import; `local` (moto) stays out
MAX_ZIPPED = 50 * 1024 * 1024  # direct upload limit
MAX_UNZIPPED = 250 * 1024 * 1024  # function + layers, unzipped
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed timestamps: same inputs, same zip

# Directories removed wherever they appear below a top-level package.
STRIP_DIRS = frozenset({"tests", "test", "__pycache__", "benchmarks"})
# Paths (relative to the build root) removed entirely.
STRIP_PATHS = ("pydicom/data/test_files", "pydicom/data/charset_files", "numpy/_core/include",
               "numpy/core/include", "numpy/f2py/tests", "bin")
# The AWS SDK and its own dependencies ship with every Python runtime (jmespath stays: Powertools
# imports it); bundling them costs ~18 MB
# zipped. ``--with-sdk`` keeps them (pins the SDK version the code was tested with).
SDK_MODULES = ("boto3", "botocore", "s3transfer", "dateutil", "six", "urllib3")
SDK_DISTRIBUTIONS = ("boto3", "botocore", "s3transfer", "python_dateutil", "six",
                     "urllib3")
STRIP_SUFFIXES = (".pyi", ".pyx", ".pxd", ".c", ".h", ".cpp", ".hpp")


class PackageError(Exception):
    """The package could not be built or is over a Lambda limit."""


@dataclass(frozen=True, slots=True)
class Built:
    """What ``build`` produced."""

    zip_path: Path | None
    tree: Path
    zipped_bytes: int
    unzipped_bytes: int
    files: int
    compiled: bool


def project_root() -> Path:
    """The source checkout this ``opsfn`` was installed from (editable installs)."""
    root = Path(__file__).resolve().parents[3]
    if not (root / "pyproject.toml").exists():
        raise PackageError("opsfn package needs a source checkout (pip install -e .); "
                           f"no pyproject.toml above {Path(__file__).resolve().parent}")
    return root


def pip_command(wanted: list[str], target: Path, arch: str, python_version: str) -> list[str]:
    """The pip command that installs ``wanted`` for the Lambda platform into ``target``."""
    machine = ARCHES[arch]
    abi = "cp" + python_version.replace(".", "")
    return [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
        "--no-compile", "--target", str(target), "--implementation", "cp",
        "--python-version", python_version, "--abi", abi, "--abi", "abi3", "--abi", "none",
        "--platform", f"manylinux2014_{machine}", "--platform", f"manylinux_2_28_{machine}",
        "--only-binary=:all:", "--upgrade", *wanted,
    ]


def requirements(root: Path, extras: str) -> list[str]:
    """The project's dependencies plus those of ``extras``, read from pyproject.toml."""
    import tomllib

    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    optional: dict[str, list[str]] = project.get("optional-dependencies", {})
    wanted = [e.strip() for e in extras.split(",") if e.strip()]
    unknown = [e for e in wanted if e not in optional]
    if unknown:
        raise PackageError(f"unknown extra(s) {unknown}; pyproject.toml has {sorted(optional)}")
    found: list[str] = list(project.get("dependencies", []))
    seen: set[str] = set()
    while wanted:
        extra = wanted.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for requirement in optional[extra]:
            if requirement.startswith("opsfn["):  # an extra made of other extras
                wanted += requirement[len("opsfn["):].rstrip("]").split(",")
            else:
                found.append(requirement)
    return sorted(set(found))


def copy_package(root: Path, tree: Path) -> None:
    """The opsfn sources themselves (with the upload page), without caches."""
    shutil.copytree(root / "src" / "opsfn", tree / "opsfn",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def strip_tree(tree: Path) -> int:
    """Remove tests, caches, headers and test data; returns bytes removed."""
    removed = 0

    def drop(path: Path) -> None:
        nonlocal removed
        if path.is_dir() and not path.is_symlink():
            removed += sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
            shutil.rmtree(path)
        elif path.exists():
            removed += path.stat().st_size
            path.unlink()

    for relative in STRIP_PATHS:
        drop(tree / relative)
    for top in [p for p in tree.iterdir() if p.is_dir()]:
        for path in sorted(top.rglob("*"), key=lambda p: len(p.parts)):
            if not path.exists():
                continue
            if (path.is_dir() and path.name in STRIP_DIRS) or (
                    path.is_file() and path.name.endswith(STRIP_SUFFIXES)):
                drop(path)
    for path in tree.rglob("*.dist-info/RECORD"):
        drop(path)  # lists files we removed; nothing at runtime reads it
    return removed


def remove_sdk(tree: Path) -> int:
    """Remove boto3, botocore and their dependencies (the runtime provides them); bytes removed."""
    removed = 0
    for path in list(tree.iterdir()):
        name = path.name
        module = name.removesuffix(".py")
        dist = name.split("-", 1)[0] if name.endswith(".dist-info") else None
        if module in SDK_MODULES or (dist is not None and dist in SDK_DISTRIBUTIONS):
            if path.is_dir():
                removed += sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
                shutil.rmtree(path)
            else:
                removed += path.stat().st_size
                path.unlink()
    return removed


def find_interpreter(python_version: str, explicit: str | None = None) -> str | None:
    """An interpreter of exactly ``python_version`` (bytecode is per minor version)."""
    candidates = [explicit] if explicit else [sys.executable, f"python{python_version}"]
    for candidate in candidates:
        if candidate is None:
            continue
        path = shutil.which(candidate) or (candidate if Path(candidate).exists() else None)
        if path is None:
            continue
        probe = subprocess.run(  # noqa: S603
            [path, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True, text=True, check=False)
        if probe.returncode == 0 and probe.stdout.strip() == python_version:
            return path
    return None


def compile_tree(tree: Path, interpreter: str) -> None:
    """Write ``__pycache__`` with unchecked hashes: zip timestamps can never invalidate them."""
    subprocess.run([interpreter, "-m", "compileall", "-q", "-j", "0",  # noqa: S603
                    "--invalidation-mode", "unchecked-hash", str(tree)],
                   check=True, stdout=subprocess.DEVNULL)


def tree_size(tree: Path) -> tuple[int, int]:
    """(bytes, files) of a directory."""
    files = [f for f in tree.rglob("*") if f.is_file()]
    return sum(f.stat().st_size for f in files), len(files)


def write_zip(tree: Path, zip_path: Path) -> int:
    """A reproducible zip of ``tree`` (sorted entries, fixed times, 0644/0755 modes)."""
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    partial = zip_path.with_suffix(".zip.partial")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for path in sorted(p for p in tree.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(path.relative_to(tree).as_posix(), ZIP_EPOCH)
            executable = path.stat().st_mode & 0o111 or path.suffix == ".so" or ".so." in path.name
            info.external_attr = (0o100755 if executable else 0o100644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes(), compresslevel=9)
    partial.replace(zip_path)
    return zip_path.stat().st_size


def build(arch: str = "arm64", *, python_version: str = RUNTIME_PYTHON, output: Path | None = None,
          tree_dir: Path | None = None, extras: str = EXTRAS, compile_with: str | None = None,
          require_bytecode: bool = False, make_zip: bool = True, with_sdk: bool = False,
          log: Any = None, also: tuple[str, ...] = ()) -> Built:
    """Build the package; ``tree_dir`` keeps the unzipped tree (``sam build`` zips it itself).

    ``also`` are further requirements resolved with opsfn's own (an application's dependencies).
    """
    if arch not in ARCHES:
        raise PackageError(f"unknown architecture {arch!r}; use one of {sorted(ARCHES)}")
    say = log or (lambda message: None)
    root = project_root()
    zip_path = (output or root / "dist" / f"opsfn-lambda-{arch}.zip") if make_zip else None
    with tempfile.TemporaryDirectory(prefix="opsfn-package-") as scratch:
        work = Path(scratch)
        tree = tree_dir or work / "tree"
        if tree.exists() and any(tree.iterdir()):
            raise PackageError(f"{tree} is not empty; give --tree a new or empty directory")
        tree.mkdir(parents=True, exist_ok=True)
        wanted = requirements(root, extras) + list(also)
        say(f"installing {len(wanted)} requirements for manylinux {ARCHES[arch]}, "
            f"Python {python_version}")
        result = subprocess.run(pip_command(wanted, tree, arch, python_version),  # noqa: S603
                                capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise PackageError("pip could not install Lambda-platform wheels:\n"
                               + (result.stderr or result.stdout)[-3000:])
        copy_package(root, tree)
        stripped = strip_tree(tree)
        if not with_sdk:
            say(f"left out the AWS SDK (in the runtime): {remove_sdk(tree) / 1e6:.1f} MB")
        say(f"stripped {stripped / 1e6:.1f} MB of tests, caches, headers and test data")
        interpreter = find_interpreter(python_version, compile_with)
        if interpreter is not None:
            compile_tree(tree, interpreter)
            say(f"compiled bytecode with {interpreter}")
        elif require_bytecode:
            raise PackageError(f"no Python {python_version} interpreter to compile bytecode with")
        else:
            say(f"WARNING: no Python {python_version} interpreter found (--compile-with); the zip "
                "has no .pyc, which adds 300-500 ms to every cold start")
        unzipped, files = tree_size(tree)
        zipped = write_zip(tree, zip_path) if zip_path is not None else 0
        built = Built(zip_path, tree, zipped, unzipped, files, interpreter is not None)
        if tree_dir is None:
            built = Built(zip_path, Path("<removed>"), zipped, unzipped, files, built.compiled)
    check_limits(built)
    return built


def check_limits(built: Built) -> None:
    """Fail above 50 MB zipped (direct upload) or 250 MB unzipped."""
    if built.zip_path is not None and built.zipped_bytes > MAX_ZIPPED:
        raise PackageError(f"zip is {built.zipped_bytes / 2**20:.1f} MiB, over Lambda's 50 MiB "
                           "direct-upload limit")
    if built.unzipped_bytes > MAX_UNZIPPED:
        raise PackageError(f"unzipped size is {built.unzipped_bytes / 2**20:.1f} MiB, over "
                           "Lambda's 250 MiB limit")


def cmd_package(args: argparse.Namespace) -> int:
    """Build and report sizes; exit 1 on failure or when over a limit."""
    from opsfn.tooling.app_option import app_reference

    def say(message: str) -> None:
        sys.stderr.write(f"opsfn package: {message}\n")

    reference = app_reference(args)
    if reference is not None:  # an application's own project (opsfn.tooling.app_package)
        from opsfn.tooling.app_package import cmd_package_app

        return cmd_package_app(args, reference)
    try:
        built = build(args.arch, python_version=args.python_version,
                      output=Path(args.output) if args.output else None,
                      tree_dir=Path(args.tree).resolve() if args.tree else None,
                      compile_with=args.compile_with, require_bytecode=args.require_bytecode,
                      make_zip=not args.no_zip, with_sdk=args.with_sdk, log=say)
    except (PackageError, subprocess.CalledProcessError) as error:
        say(f"error: {error}")
        return 1
    where = built.zip_path or built.tree
    zipped = f"{built.zipped_bytes / 2**20:8.1f} MiB (limit 50)" if built.zip_path else "     n/a"
    sys.stdout.write(f"{where}\n  zipped:   {zipped}\n"
                     f"  unzipped: {built.unzipped_bytes / 2**20:8.1f} MiB (limit 250)\n"
                     f"  files:    {built.files:8d}\n  bytecode: "
                     f"{'yes' if built.compiled else 'no'}\n")
    return 0


def register(subparsers: Any) -> None:
    """Add ``opsfn package``."""
    parser = subparsers.add_parser("package", help="build dist/opsfn-lambda-<arch>.zip without Docker")
    parser.add_argument("--arch", choices=sorted(ARCHES), default="arm64")
    parser.add_argument("--python-version", default=RUNTIME_PYTHON,
                        help="target runtime's Python (default 3.13, the template's runtime)")
    parser.add_argument("--output", help="zip path (default dist/opsfn-lambda-<arch>.zip)")
    parser.add_argument("--tree", help="also keep the unzipped tree here (sam build's ARTIFACTS_DIR)")
    parser.add_argument("--no-zip", action="store_true", help="only the tree (with --tree)")
    parser.add_argument("--with-sdk", action="store_true",
                        help="bundle boto3/botocore instead of using the runtime's copy")
    parser.add_argument("--compile-with", help="interpreter of the target version for .pyc files")
    parser.add_argument("--require-bytecode", action="store_true",
                        help="fail instead of warning when no interpreter can compile .pyc files")
    from opsfn.tooling.app_option import add_app_argument

    add_app_argument(parser)  # an application's own project: see opsfn.tooling.app_package
    parser.set_defaults(func=cmd_package)


if __name__ == "__main__":  # pragma: no cover - `python -m opsfn.tooling.packaging` for Makefiles
    _parser = argparse.ArgumentParser(prog="opsfn")
    register(_parser.add_subparsers(dest="command", required=True))
    _args = _parser.parse_args(["package", *sys.argv[1:]])
    raise SystemExit(cmd_package(_args))
