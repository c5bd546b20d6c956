"""The runtime dependency locks: one hashed requirements file per target (Python x architecture).

What ships in the Lambda zip, what the test virtualenv runs and what CI installs come from these
files, so the tests run on the versions that ship. Every target pins the same versions: the
oldest Python is resolved first and every other target is resolved under its pins, so a version
only newer Pythons can install never sneaks into one target alone.

``python3 dev.py lock`` writes them with ``uv pip compile --generate-hashes`` (hashes of the
index's files); ``--upgrade`` or ``--upgrade-package NAME`` moves pins. Each file records a digest
of the requirements it was made from; :func:`problems` reports a lock that no longer matches
``pyproject.toml``. This module uses only the standard library: ``dev.py`` loads it before any
virtualenv exists.
"""

from __future__ import annotations

import hashlib
import platform
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

LOCK_DIR = "locks"
# What the built-in routes import at run time; `local` (moto) and the dev tools stay out.
EXTRAS = ("imaging", "certs", "cache")
# Every target a lock exists for; the first Python is the floor every target is resolved under.
PYTHONS = ("3.11", "3.12", "3.13")
ARCHES = {"arm64": "aarch64", "x86_64": "x86_64"}
TARGETS = tuple((python, arch) for python in PYTHONS for arch in ARCHES)
INDEX_URL = "https://pypi.org/simple"
# Lambda's Python 3.12+ runtimes run Amazon Linux 2023 (glibc 2.34): manylinux_2_28 wheels load.
PLATFORM = "manylinux_2_28"
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)")
_HASH = re.compile(r"--hash=(sha256:[0-9a-f]{64})")
_DIGEST = re.compile(r"^# input sha256: ([0-9a-f]{64})$", re.MULTILINE)


class LockError(Exception):
    """A lock is missing, stale or could not be made."""


@dataclass(frozen=True, slots=True)
class Pin:
    """One locked distribution: its normalised name, exact version and file hashes."""

    name: str
    version: str
    hashes: tuple[str, ...]


@dataclass
class Lock:
    """One parsed lock file."""

    path: Path
    digest: str | None
    pins: dict[str, Pin] = field(default_factory=dict)

    def versions(self) -> dict[str, str]:
        """name -> version."""
        return {name: pin.version for name, pin in self.pins.items()}

    def requirements_text(self, leave_out: Sequence[str] = ()) -> str:
        """The lock as a hashed requirements file, without the distributions in ``leave_out``."""
        skip = {normalise(name) for name in leave_out}
        lines = []
        for pin in self.pins.values():
            if pin.name in skip:
                continue
            hashes = "".join(f" \\\n    --hash={h}" for h in pin.hashes)
            lines.append(f"{pin.name}=={pin.version}{hashes}")
        return "\n".join(lines) + "\n"

    def constraints_text(self) -> str:
        """The pins without hashes: a constraints file for installing other things beside them."""
        return "".join(f"{pin.name}=={pin.version}\n" for pin in self.pins.values())


def normalise(name: str) -> str:
    """A distribution name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_path(root: Path, python: str, arch: str) -> Path:
    """Where the lock of one target lives."""
    return root / LOCK_DIR / f"py{python}-{arch}.txt"


def host_target() -> tuple[str, str | None]:
    """(Python minor version, lock architecture or None) of the interpreter running this."""
    python = f"{sys.version_info[0]}.{sys.version_info[1]}"
    machine = platform.machine().lower()
    arch = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}.get(machine)
    if not sys.platform.startswith("linux"):
        arch = None  # the locks are for Linux (manylinux) wheels
    return python, arch


def requirements(root: Path, extras: Sequence[str] = EXTRAS) -> list[str]:
    """The project's dependencies plus those of ``extras``, read from pyproject.toml."""
    import tomllib

    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    optional: dict[str, list[str]] = project.get("optional-dependencies", {})
    wanted = [e.strip() for e in extras if e.strip()]
    unknown = [e for e in wanted if e not in optional]
    if unknown:
        raise LockError(f"unknown extra(s) {unknown}; pyproject.toml has {sorted(optional)}")
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


def input_digest(wanted: Sequence[str]) -> str:
    """What a lock was made from, independent of order and spacing."""
    text = "\n".join(sorted(re.sub(r"\s+", "", r).lower() for r in wanted))
    return hashlib.sha256(text.encode()).hexdigest()


def parse(path: Path) -> Lock:
    """Read one lock file (pins with their ``--hash`` lines, the input digest comment)."""
    text = path.read_text()
    found = _DIGEST.search(text)
    lock = Lock(path, found.group(1) if found else None)
    current: tuple[str, str] | None = None
    hashes: list[str] = []

    def flush() -> None:
        if current is not None:
            name = normalise(current[0])
            lock.pins[name] = Pin(name, current[1], tuple(hashes))

    for line in text.splitlines():
        stripped = line.strip()
        pinned = _PIN.match(stripped)
        if pinned:
            flush()
            current, hashes = (pinned.group(1), pinned.group(2)), []
        hashes += _HASH.findall(stripped) if current is not None else []
    flush()
    return lock


def load(root: Path, python: str, arch: str) -> Lock:
    """The lock of one target, or a LockError saying how to make it."""
    path = lock_path(root, python, arch)
    if not path.is_file():
        raise LockError(f"no lock for Python {python} {arch} ({path}); run `python3 dev.py lock`")
    return parse(path)


def problems(root: Path) -> list[str]:
    """Why the locks do not describe pyproject.toml's runtime dependencies (empty: they do)."""
    digest = input_digest(requirements(root))
    found: list[str] = []
    reference: dict[str, str] | None = None
    for python, arch in TARGETS:
        path = lock_path(root, python, arch)
        if not path.is_file():
            found.append(f"{path.name}: missing")
            continue
        lock = parse(path)
        if lock.digest != digest:
            found.append(f"{path.name}: made from other requirements than pyproject.toml's "
                         "(run `python3 dev.py lock`)")
        unhashed = sorted(name for name, pin in lock.pins.items() if not pin.hashes)
        if unhashed:
            found.append(f"{path.name}: no hashes for {unhashed}")
        versions = lock.versions()
        if reference is None:
            reference = versions
        else:  # a target may need a package another does not (markers), never another version
            differ = sorted(f"{name} {versions[name]} (not {reference[name]})"
                            for name in versions.keys() & reference.keys()
                            if versions[name] != reference[name])
            if differ:
                found.append(f"{path.name}: pins differ from {TARGETS[0][0]}-{TARGETS[0][1]}'s: "
                             f"{differ}")
    extra = sorted(p.name for p in (root / LOCK_DIR).glob("*.txt")
                   if p.name not in {lock_path(root, *t).name for t in TARGETS}) \
        if (root / LOCK_DIR).is_dir() else []
    found += [f"{name}: not a lock of any target" for name in extra]
    return found


# -- making the locks (needs uv and the index) ----------------------------------------------------
def compile_command(uv: str, source: Path, output: Path, *, python: str, arch: str,
                    constraints: Path | None, upgrade: Sequence[str] | bool) -> list[str]:
    """The ``uv pip compile`` command for one target."""
    command = [uv, "pip", "compile", str(source), "--output-file", str(output), "--quiet",
               "--generate-hashes", "--no-header", "--no-annotate", "--only-binary", ":all:",
               "--python-version", python, "--python-platform", f"{ARCHES[arch]}-{PLATFORM}",
               "--index-url", INDEX_URL]
    if constraints is not None:
        command += ["--constraint", str(constraints)]
    if upgrade is True:
        command.append("--upgrade")
    elif upgrade:
        for name in upgrade:
            command += ["--upgrade-package", name]
    return command


def header(python: str, arch: str, digest: str) -> str:
    """The comment block every lock starts with."""
    return (f"# opsfn runtime dependencies for Python {python} on {arch} "
            f"({PLATFORM}_{ARCHES[arch]}): pyproject.toml's dependencies and the\n"
            f"# {', '.join(EXTRAS)} extras. Made by `python3 dev.py lock`; move pins with "
            "`python3 dev.py lock --upgrade [PACKAGE ...]`.\n"
            f"# input sha256: {digest}\n")


def version_key(version: str) -> tuple[tuple[int, ...], int, tuple[int, ...]]:
    """An ordering of release versions good enough to find the lowest of a few pins."""
    release = re.match(r"^\d+(?:\.\d+)*", version)
    numbers = tuple(int(n) for n in release.group(0).split(".")) if release else ()
    rest = version[release.end():] if release else version
    # pre-releases (a, b, rc) sort before the release, post-releases after it
    stage = -1 if re.match(r"^\.?(a|b|rc|dev)", rest) else 1 if rest else 0
    return numbers, stage, tuple(int(n) for n in re.findall(r"\d+", rest))


def disagreements(locks: dict[tuple[str, str], Lock]) -> dict[str, str]:
    """Packages pinned to different versions by different targets -> the lowest of them."""
    seen: dict[str, set[str]] = {}
    for lock in locks.values():
        for name, version in lock.versions().items():
            seen.setdefault(name, set()).add(version)
    return {name: min(versions, key=version_key) for name, versions in seen.items()
            if len(versions) > 1}


def write_locks(root: Path, uv: str, upgrade: Sequence[str] | bool = False,
                say: Callable[[str], None] = print, rounds: int = 6) -> list[Path]:
    """Resolve every target; where targets disagree, cap the package at the lowest version any
    of them chose and resolve again, until every target pins the same versions.

    A cap is needed when one platform lacks wheels of a newer release (it happens: a C extension
    that publishes arm64 wheels first). Each target's current lock is uv's preference, so pins
    stay where they are unless ``upgrade`` says otherwise.
    """
    wanted = requirements(root)
    digest = input_digest(wanted)
    (root / LOCK_DIR).mkdir(exist_ok=True)
    caps: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="opsfn-lock-") as scratch:
        source = Path(scratch) / "requirements.in"
        source.write_text("\n".join(wanted) + "\n")
        capped = Path(scratch) / "caps.txt"
        for attempt in range(1, rounds + 1):
            capped.write_text("".join(f"{name}<={version}\n" for name, version in caps.items()))
            made: dict[tuple[str, str], Lock] = {}
            for python, arch in TARGETS:
                path = lock_path(root, python, arch)
                say(f"resolving Python {python} {arch}" + (f" (round {attempt})" if caps else ""))
                command = compile_command(uv, source, path, python=python, arch=arch,
                                          constraints=capped if caps else None, upgrade=upgrade)
                result = subprocess.run(command, capture_output=True, text=True,  # noqa: S603
                                        check=False)
                if result.returncode != 0:
                    raise LockError(f"uv could not lock Python {python} {arch}"
                                    f"{' under ' + str(caps) if caps else ''}:\n"
                                    f"{result.stderr[-3000:]}")
                path.write_text(header(python, arch, digest) + path.read_text())
                made[(python, arch)] = parse(path)
            differ = disagreements(made)
            if not differ:
                break
            say(f"targets disagree on {sorted(differ)}; capping at the lowest pins")
            caps.update(differ)
        else:
            raise LockError(f"targets still disagree after {rounds} rounds: {caps}")
    left = problems(root)
    if left:
        raise LockError("the new locks disagree:\n" + "\n".join(left))
    return [lock_path(root, *target) for target in TARGETS]
