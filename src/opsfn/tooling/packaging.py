"""``opsfn package``: the Lambda deployment zip, built from Lambda-platform wheels without Docker.

pip installs exactly what ``locks/py<version>-<arch>.txt`` pins (hash-checked, the versions the
tests run on) for the target platform (``--platform manylinux_2_28_<arch> --only-binary=:all:``),
so an arm64 zip can be built on an x86_64 laptop. Only the function goes in: the handler, the
core, the routes and what they import; the tooling (CLI, local stack, packaging, docs, template
checks, fault injection) and the test helpers stay out. Tests, docs, caches, C headers, type stubs
and pydicom's bundled test data are stripped, bytecode is compiled by an interpreter of the target
Python (a ``.pyc`` is only valid for the minor version that wrote it; Lambda's code directory is
read-only, so a zip without one compiles every module on every cold start), and the result is
checked against Lambda's limits.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from opsfn.tooling import dependency_locks
from opsfn.tooling.dependency_locks import EXTRAS, requirements

__all__ = ["EXTRAS", "Built", "PackageError", "build", "find_interpreter", "requirements"]

ARCHES = dependency_locks.ARCHES
RUNTIME_PYTHON = "3.13"  # the template's runtime: python3.13
MAX_ZIPPED = 50 * 1024 * 1024  # direct upload limit
MAX_UNZIPPED = 250 * 1024 * 1024  # function + layers, unzipped
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed timestamps: same inputs, same zip

# Directories removed wherever they appear below a top-level package.
STRIP_DIRS = frozenset({"tests", "test", "__pycache__", "benchmarks"})
# Documentation directories, removed when they are not importable packages.
DOC_DIRS = frozenset({"docs", "doc", "examples"})
# Paths (relative to the build root) removed entirely.
STRIP_PATHS = ("pydicom/data/test_files", "pydicom/data/charset_files", "numpy/_core/include",
               "numpy/core/include", "bin",
               # build-time tools: numpy's Fortran wrapper generator; pydicom's structured-report
               # code dictionaries (6 MB, imported only by code that writes SR documents)
               "numpy/f2py", "pydicom/sr",
               # GDCM's IOD tables (read only by its validation) and its command-line programs
               "_gdcm/XML", "_gdcm/scripts", *(f"_gdcm/gdcm{tool}" for tool in (
                   "anon", "clean", "conv", "diff", "dump", "gendir", "img", "info", "pap3", "raw",
                   "scanner", "scu", "tar", "xml")))
# The AWS SDK and its own dependencies ship with every Python runtime (jmespath stays: Powertools
# imports it); bundling them costs ~25 MB zipped. ``--with-sdk`` keeps them (pins the SDK version
# the code was tested with).
SDK_MODULES = ("boto3", "botocore", "s3transfer", "dateutil", "six", "urllib3")
SDK_DISTRIBUTIONS = ("boto3", "botocore", "s3transfer", "python-dateutil", "six", "urllib3")
STRIP_SUFFIXES = (".pyi", ".pyx", ".pxd", ".c", ".h", ".cpp", ".hpp")
# Pillow's AVIF (5 MB) and WebP codecs: uploads are sniffed as JPEG, PNG or DICOM before Pillow
# opens them, so they are never used, and fewer decoders are reachable from an upload. Its font
# renderer (FreeType, HarfBuzz and their PNG and Brotli libraries): nothing draws text. Pillow
# imports each of these lazily and reports it unsupported when missing. numpy's extension
# modules that exist for its own test suite (its SIMD intrinsics tester among them, 1.5 MB).
STRIP_GLOBS = ("PIL/_avif.*.so", "pillow.libs/libavif-*",
               "PIL/_webp.*.so", "pillow.libs/libwebp*", "pillow.libs/libsharpyuv-*",
               "PIL/_imagingft.*.so", "pillow.libs/libfreetype-*", "pillow.libs/libharfbuzz-*",
               "pillow.libs/libpng16-*", "pillow.libs/libbrotli*",
               "numpy/_core/_simd.*.so", "numpy/_core/_*_tests.*.so", "numpy/conftest.py",
               "numpy/_pyinstaller")
# Documentation inside data: botocore's request examples are read only by doc generators.
STRIP_FILE_NAMES = frozenset({"examples-1.json"})
# Services botocore itself may call while resolving credentials (assume-role, SSO profiles).
SDK_OWN_SERVICES = frozenset({"sts", "sso", "sso-oidc"})
_CLIENT_CALL = re.compile(r"""\bclient\(\s*["']([a-z0-9-]+)["']""")
# What of opsfn never runs in Lambda (relative to the package): the tooling and the test helpers;
# a domain's cli.py serves the `opsfn` command only.
NOT_SHIPPED = ("tooling", "testing.py", "py.typed", "cdk")  # cdk: runs where an app synthesizes
CLI_MODULE = "cli.py"


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
    interpreter: str | None = None


def project_root() -> Path:
    """The source checkout this ``opsfn`` was installed from (editable installs)."""
    root = Path(__file__).resolve().parents[3]
    if not (root / "pyproject.toml").exists() or not (root / dependency_locks.LOCK_DIR).is_dir():
        raise PackageError("opsfn package needs the source checkout (pip install -e .) with its "
                           f"{dependency_locks.LOCK_DIR}/; none above {Path(__file__).resolve().parent}")
    return root


def pip_command(requirements_file: Path, target: Path, arch: str, python_version: str
                ) -> list[str]:
    """The pip command that installs a hashed lock for the Lambda platform into ``target``."""
    machine = ARCHES[arch]
    abi = "cp" + python_version.replace(".", "")
    return [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
        "--no-compile", "--no-deps", "--require-hashes", "--target", str(target),
        "--implementation", "cp", "--python-version", python_version, "--abi", abi,
        "--abi", "abi3", "--abi", "none", "--platform", f"manylinux2014_{machine}",
        "--platform", f"{dependency_locks.PLATFORM}_{machine}", "--only-binary=:all:",
        "-r", str(requirements_file),
    ]


def install_constrained(requirements: list[str], lock_text: str, tree: Path, work: Path, *,
                        arch: str, python_version: str) -> None:
    """Install an application's requirements (and what they need) for the Lambda platform into
    ``tree`` beside the lock, with every locked package held at its pinned version."""
    constraints = work / "constraints.txt"
    constraints.write_text("".join(line.split(" \\")[0] + "\n" for line in lock_text.splitlines()
                                   if "==" in line and not line.startswith((" ", "#"))))
    staging = work / "app-site"
    command = pip_command(constraints, staging, arch, python_version)
    command = [part for part in command if part not in ("--no-deps", "--require-hashes")]
    command[command.index("-r")] = "-c"
    result = subprocess.run([*command, *requirements],  # noqa: S603 - pip of this interpreter
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise PackageError("pip could not install the application's requirements:\n"
                           + (result.stderr or result.stdout)[-3000:])
    for path in sorted(staging.iterdir()):
        if path.name != "bin" and not (tree / path.name).exists():  # locked ones are there already
            shutil.move(str(path), str(tree / path.name))


def lock_requirements(root: Path, arch: str, python_version: str, with_sdk: bool) -> str:
    """The target's lock as a hashed requirements file (without the SDK unless ``with_sdk``)."""
    try:
        lock = dependency_locks.load(root, python_version, arch)
    except dependency_locks.LockError as error:
        raise PackageError(str(error)) from None
    stale = dependency_locks.problems(root)
    if stale:
        raise PackageError("the locks do not match pyproject.toml (run `python3 dev.py lock`): "
                           + "; ".join(stale))
    return lock.requirements_text(() if with_sdk else SDK_DISTRIBUTIONS)


def shipped(relative: Path) -> bool:
    """Whether a file of the opsfn sources (relative to ``src/opsfn``) belongs in the function."""
    parts = relative.parts
    if not parts or parts[0] in NOT_SHIPPED or "__pycache__" in parts or relative.suffix == ".pyc":
        return False
    return not (parts[0] == "routes" and relative.name == CLI_MODULE)


def copy_package(root: Path, tree: Path) -> int:
    """The opsfn modules Lambda runs (see :func:`shipped`); returns the number of files copied."""
    source = root / "src" / "opsfn"
    copied = 0
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        if path.is_file() and shipped(relative):
            destination = tree / "opsfn" / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, destination)
            copied += 1
    return copied


def _is_package(path: Path) -> bool:
    return (path / "__init__.py").exists()


def strip_tree(tree: Path) -> int:
    """Remove tests, docs, caches, headers, stubs and test data; returns bytes removed."""
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
    for pattern in STRIP_GLOBS:
        for path in tree.glob(pattern):
            drop(path)
    for top in [p for p in tree.iterdir() if p.is_dir()]:
        if top.name.endswith("-stubs"):  # type-stub-only distributions
            drop(top)
            continue
        for path in sorted(top.rglob("*"), key=lambda p: len(p.parts)):
            if not path.exists():
                continue
            if path.is_dir():
                if path.name in STRIP_DIRS or (path.name in DOC_DIRS and not _is_package(path)):
                    drop(path)
            elif path.name.endswith(STRIP_SUFFIXES) or path.name in STRIP_FILE_NAMES:
                drop(path)
    for path in tree.rglob("*.dist-info/RECORD"):
        drop(path)  # lists files we removed; nothing at runtime reads it
    return removed


def elf_soname(data: bytes) -> str | None:
    """The DT_SONAME of a 64-bit little-endian ELF shared library (Lambda's x86_64 and arm64),
    read from its dynamic segment; None for anything else."""
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return None
    phoff, = struct.unpack_from("<Q", data, 32)
    phentsize, phnum = struct.unpack_from("<HH", data, 54)
    loads, dynamic = [], None
    for index in range(phnum):
        kind, _, offset, vaddr, _, filesz, _, _ = struct.unpack_from(
            "<IIQQQQQQ", data, phoff + index * phentsize)
        if kind == 1:  # PT_LOAD
            loads.append((vaddr, offset, filesz))
        elif kind == 2:  # PT_DYNAMIC
            dynamic = (offset, filesz)
    if dynamic is None:
        return None
    tags: dict[int, int] = {}
    for at in range(dynamic[0], dynamic[0] + dynamic[1] - 15, 16):
        tag, value = struct.unpack_from("<qQ", data, at)
        if tag == 0:
            break
        tags.setdefault(tag, value)
    strtab, soname = tags.get(5), tags.get(14)  # DT_STRTAB (an address), DT_SONAME (an index)
    if strtab is None or soname is None:
        return None
    for vaddr, offset, size in loads:
        if vaddr <= strtab < vaddr + size:
            start = offset + strtab - vaddr + soname
            return data[start:data.index(b"\0", start)].decode("ascii", "replace")
    return None


def dedupe_libraries(tree: Path) -> int:
    """Drop byte-identical copies of a shared library next to the one named by its SONAME.

    Wheels cannot hold symlinks, so ``libX.so -> libX.so.3 -> libX.so.3.2.6`` arrive as three
    copies (python-gdcm: 20 MB). The dynamic loader only ever opens the SONAME; the other names
    are for linking at build time. Returns bytes removed.
    """
    versions = re.compile(r"\.so(\.\d+)*$")
    groups: dict[tuple[Path, str], list[Path]] = {}
    for path in tree.rglob("*.so*"):
        if path.is_file() and not path.is_symlink() and versions.search(path.name):
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            groups.setdefault((path.parent, digest), []).append(path)
    removed = 0
    for copies in groups.values():
        soname = elf_soname(copies[0].read_bytes()) if len(copies) > 1 else None
        if soname is None or soname not in {p.name for p in copies}:
            continue
        for path in copies:
            if path.name != soname:
                removed += path.stat().st_size
                path.unlink()
    return removed


def remove_sdk(tree: Path) -> int:
    """Remove boto3, botocore and their dependencies (the runtime provides them); bytes removed."""
    removed = 0
    distributions = {dependency_locks.normalise(d) for d in SDK_DISTRIBUTIONS}
    for path in list(tree.iterdir()):
        name = path.name
        module = name.removesuffix(".py")
        dist = dependency_locks.normalise(name.split("-", 1)[0]) if name.endswith(".dist-info") else None
        if module in SDK_MODULES or (dist is not None and dist in distributions):
            if path.is_dir():
                removed += sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
                shutil.rmtree(path)
            else:
                removed += path.stat().st_size
                path.unlink()
    return removed


def services_called(tree: Path) -> frozenset[str]:
    """The AWS services the shipped opsfn modules create clients for (``aws.client("s3")``)."""
    found = set(SDK_OWN_SERVICES)
    for path in (tree / "opsfn").rglob("*.py"):
        found.update(_CLIENT_CALL.findall(path.read_text(encoding="utf-8")))
    return frozenset(found)


def prune_service_models(tree: Path, keep: frozenset[str]) -> int:
    """Remove botocore's models of services no shipped module calls; bytes removed.

    botocore reads a service's model only when a client for it is created, and the bundled SDK
    is only used by opsfn's own clients, so the other ~400 models are data nothing loads (they
    are most of botocore's size and already gzip-compressed).
    """
    removed = 0
    data = tree / "botocore" / "data"
    if not data.is_dir():
        return 0
    for service in [d for d in data.iterdir() if d.is_dir() and d.name not in keep]:
        removed += sum(f.stat().st_size for f in service.rglob("*") if f.is_file())
        shutil.rmtree(service)
    return removed


# -- an interpreter of the target version ---------------------------------------------------------
def _newest_first(paths: Iterator[Path]) -> list[Path]:
    def key(path: Path) -> tuple[int, ...]:
        return tuple(int(n) for n in re.findall(r"\d+", path.name)[:4])

    return sorted(paths, key=key, reverse=True)


def interpreter_candidates(python_version: str, environ: dict[str, str] | None = None
                           ) -> list[str]:
    """Where a Python ``python_version`` may be: PATH, pyenv's versions, uv's managed Pythons."""
    env = dict(os.environ) if environ is None else environ
    home = Path(env.get("HOME") or Path.home())
    name = f"python{python_version}"
    found: list[str] = [sys.executable]
    for command in (name, "python3", "python"):
        on_path = shutil.which(command, path=env.get("PATH"))
        if on_path:
            found.append(on_path)
    pyenv = Path(env.get("PYENV_ROOT") or home / ".pyenv") / "versions"
    if pyenv.is_dir():  # pyenv's shims refuse a version that is not selected: use it directly
        found += [str(d / "bin" / name) for d in _newest_first(pyenv.glob(f"{python_version}.*"))]
    uv_dirs = [env.get("UV_PYTHON_INSTALL_DIR"),
               str(Path(env.get("XDG_DATA_HOME") or home / ".local" / "share") / "uv" / "python")]
    for uv_dir in [Path(d) for d in uv_dirs if d]:
        if uv_dir.is_dir():
            found += [str(d / "bin" / name)
                      for d in _newest_first(uv_dir.glob(f"cpython-{python_version}.*"))]
    return list(dict.fromkeys(found))


def probe(interpreter: str) -> str | None:
    """``cpython 3.13`` for a working CPython 3.13, None when it does not run."""
    try:
        result = subprocess.run(  # noqa: S603
            [interpreter, "-c",
             "import sys; print(sys.implementation.name, '%d.%d' % sys.version_info[:2])"],
            capture_output=True, text=True, check=False, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def find_interpreter(python_version: str, explicit: str | None = None,
                     environ: dict[str, str] | None = None) -> str | None:
    """A CPython of exactly ``python_version`` (bytecode is per minor version), or None."""
    candidates = [explicit] if explicit else interpreter_candidates(python_version, environ)
    for candidate in candidates:
        path = shutil.which(candidate) or (candidate if Path(candidate).is_file() else None)
        if path is not None and probe(path) == f"cpython {python_version}":
            return path
    return None


def no_interpreter_message(python_version: str) -> str:
    """What to do when no interpreter of the target version is found."""
    return (f"no Python {python_version} found to compile the bytecode with (looked on PATH, in "
            f"pyenv's versions and in uv's managed Pythons). Get one with `pyenv install "
            f"{python_version}`, `uv python install {python_version}` or your system's "
            f"python{python_version} package, or point at one with --compile-with "
            f"/path/to/python{python_version}. --no-bytecode builds without (every cold start "
            "then compiles each module it imports)")


def compile_tree(tree: Path, interpreter: str, python_version: str) -> int:
    """Write ``__pycache__`` with unchecked hashes (zip timestamps can never invalidate them) and
    return how many ``.pyc`` files the target version will load."""
    result = subprocess.run([interpreter, "-m", "compileall", "-q", "-j", "0",  # noqa: S603
                             "--invalidation-mode", "unchecked-hash", str(tree)],
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        failed = [line for line in result.stdout.splitlines() if "Error compiling" in line]
        raise PackageError(f"{interpreter} could not compile {len(failed)} file(s): "
                           + "; ".join(failed[:5]) + (result.stderr or "")[-1000:])
    tag = f".cpython-{python_version.replace('.', '')}.pyc"
    return sum(1 for _ in tree.rglob(f"__pycache__/*{tag}"))


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


def zipped_by_top_level(zip_path: Path) -> list[tuple[str, int]]:
    """Compressed bytes per top-level entry of the zip, largest first."""
    sizes: dict[str, int] = {}
    with zipfile.ZipFile(zip_path) as archive:
        for info in archive.infolist():
            top = info.filename.split("/", 1)[0]
            top = re.sub(r"\.(dist-info|libs)$", r".\1", top)
            sizes[top] = sizes.get(top, 0) + info.compress_size
    return sorted(sizes.items(), key=lambda item: -item[1])


def default_output(arch: str) -> Path:
    """``dist/opsfn-lambda-<arch>.zip`` under the current directory (never inside the package)."""
    return Path.cwd() / "dist" / f"opsfn-lambda-{arch}.zip"


def build(arch: str = "arm64", *, python_version: str = RUNTIME_PYTHON, output: Path | None = None,
          tree_dir: Path | None = None, compile_with: str | None = None, bytecode: bool = True,
          make_zip: bool = True, with_sdk: bool = False, for_s3: bool = False,
          log: Callable[[str], None] | None = None, extras: Sequence[str] = EXTRAS,
          also: tuple[str, ...] = ()) -> Built:
    """Build the package; ``tree_dir`` keeps the unzipped tree (``sam build`` zips it itself).

    ``extras`` and ``also`` are an application's: the opsfn extras it needs and its own
    requirements, installed with the lock's pins as constraints, so opsfn's dependencies stay at
    the versions that were tested (the built-in function installs the whole lock, hash-checked).
    """
    if arch not in ARCHES:
        raise PackageError(f"unknown architecture {arch!r}; use one of {sorted(ARCHES)}")
    say = log or (lambda message: None)
    root = project_root()
    interpreter = None
    if bytecode:  # before the slow part: a build that cannot compile fails at once
        interpreter = find_interpreter(python_version, compile_with)
        if interpreter is None:
            raise PackageError(no_interpreter_message(python_version) if not compile_with else
                               f"--compile-with {compile_with} is not a Python {python_version}")
    zip_path = (output or default_output(arch)) if make_zip else None
    wanted = lock_requirements(root, arch, python_version, with_sdk)
    with tempfile.TemporaryDirectory(prefix="opsfn-package-") as scratch:
        work = Path(scratch)
        tree = tree_dir or work / "tree"
        if tree.exists() and any(tree.iterdir()):
            raise PackageError(f"{tree} is not empty; give --tree a new or empty directory")
        tree.mkdir(parents=True, exist_ok=True)
        if also or tuple(extras) != EXTRAS:
            # An application's build: only the opsfn extras it asks for, with its own
            # requirements, every locked package at its pinned version (no hashes for its own).
            say(f"installing opsfn[{','.join(extras)}] and {len(also)} requirement(s) of the "
                f"application for {dependency_locks.PLATFORM}_{ARCHES[arch]}, pinned by the lock")
            install_constrained([*requirements(root, tuple(extras)), *also], wanted, tree, work,
                                arch=arch, python_version=python_version)
        else:
            pinned = work / "requirements.txt"
            pinned.write_text(wanted)
            say(f"installing {dependency_locks.lock_path(root, python_version, arch).name} "
                f"({wanted.count('==')} pins{', with the SDK' if with_sdk else ''}) for "
                f"{dependency_locks.PLATFORM}_{ARCHES[arch]}, Python {python_version}")
            result = subprocess.run(pip_command(pinned, tree, arch, python_version),  # noqa: S603
                                    capture_output=True, text=True, check=False)
            if result.returncode != 0:
                raise PackageError("pip could not install Lambda-platform wheels:\n"
                                   + (result.stderr or result.stdout)[-3000:])
        if not with_sdk:
            remove_sdk(tree)  # the lock without the SDK pulls none of it: belt and braces
        stripped = strip_tree(tree) + dedupe_libraries(tree)
        say(f"copied {copy_package(root, tree)} opsfn files (no tooling, CLI or test helpers)")
        if with_sdk:
            keep = services_called(tree)
            pruned = prune_service_models(tree, keep)
            say(f"kept botocore's models of the {len(keep)} services opsfn calls "
                f"({', '.join(sorted(keep))}); removed {pruned / 1e6:.1f} MB of other models")
        say(f"stripped {stripped / 1e6:.1f} MB of tests, docs, caches, headers, stubs, test data "
            "and copies of shared libraries")
        if interpreter is not None:
            pycs = compile_tree(tree, interpreter, python_version)
            say(f"compiled {pycs} .pyc files with {interpreter} (unchecked-hash)")
        else:
            say("WARNING: --no-bytecode: every cold start compiles every module it imports")
        unzipped, files = tree_size(tree)
        zipped = write_zip(tree, zip_path) if zip_path is not None else 0
        built = Built(zip_path, tree if tree_dir else Path("<removed>"), zipped, unzipped, files,
                      interpreter is not None, interpreter)
    check_limits(built, for_s3=for_s3)
    return built


def check_limits(built: Built, *, for_s3: bool = False) -> None:
    """Fail above 50 MiB zipped (direct upload, unless ``for_s3``) or 250 MiB unzipped, saying
    which parts make the size."""
    if built.zip_path is not None and built.zipped_bytes > MAX_ZIPPED and not for_s3:
        parts = ", ".join(f"{name} {size / 2**20:.1f}"
                          for name, size in zipped_by_top_level(built.zip_path)[:8])
        raise PackageError(
            f"{built.zip_path} is {built.zipped_bytes / 2**20:.1f} MiB zipped, over Lambda's 50 MiB "
            f"direct-upload limit by {(built.zipped_bytes - MAX_ZIPPED) / 2**20:.1f} MiB. Largest "
            f"parts (MiB zipped): {parts}. Tests, docs, stubs and other versions' bytecode are "
            "already stripped; what is left is imported at run time (botocore's service models "
            "are gzip files that do not shrink further). Leave the SDK out (the runtime has it) "
            "or upload through S3 (sam deploy does; --for-s3 skips this check, the 250 MiB "
            "unzipped limit still applies)")
    if built.unzipped_bytes > MAX_UNZIPPED:
        raise PackageError(f"unzipped size is {built.unzipped_bytes / 2**20:.1f} MiB, over "
                           "Lambda's 250 MiB limit")


if __name__ == "__main__":  # pragma: no cover - `python -m opsfn.tooling.packaging` for Makefiles
    from opsfn.tooling.package_command import main

    raise SystemExit(main(sys.argv[1:]))
