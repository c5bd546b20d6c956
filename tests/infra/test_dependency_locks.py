"""The runtime locks: one per target, hashed, the same versions everywhere, fresh against pyproject."""

from __future__ import annotations

import importlib.metadata
import re
import shutil
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from opsfn.tooling import dependency_locks

ROOT = Path(__file__).resolve().parents[2]


def test_locks_match_pyproject() -> None:
    """Fails when pyproject.toml's runtime dependencies changed and `dev.py lock` was not run."""
    assert dependency_locks.problems(ROOT) == []


def test_every_target_has_a_hashed_lock_of_every_requirement() -> None:
    wanted = [Requirement(r) for r in dependency_locks.requirements(ROOT)]
    for python, arch in dependency_locks.TARGETS:
        lock = dependency_locks.load(ROOT, python, arch)
        assert lock.digest == dependency_locks.input_digest(dependency_locks.requirements(ROOT))
        for requirement in wanted:
            pin = lock.pins.get(dependency_locks.normalise(requirement.name))
            assert pin is not None, f"{requirement.name} is not locked for {python} {arch}"
            assert requirement.specifier.contains(pin.version, prereleases=True), (
                f"{lock.path.name} pins {pin.name} {pin.version}, outside {requirement}")
        for pin in lock.pins.values():
            assert pin.hashes and all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in pin.hashes)


def test_the_runtime_targets_pin_what_the_tests_run_on() -> None:
    """The test virtualenv has the locked versions (dev.py installs this host's lock)."""
    python, arch = dependency_locks.host_target()
    if arch is None or not dependency_locks.lock_path(ROOT, python, arch).is_file():
        pytest.skip(f"no lock for Python {python} on this machine")
    host = dependency_locks.load(ROOT, python, arch).versions()
    runtime = dependency_locks.load(ROOT, "3.13", "arm64").versions()
    installed = {dependency_locks.normalise(d.metadata["Name"]): d.version
                 for d in importlib.metadata.distributions()}
    for name, version in runtime.items():
        assert host.get(name, version) == version, name
        assert installed.get(name) == version, (
            f"the tests run {name} {installed.get(name)} but the zip ships {version}")


def _copy_checkout(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(ROOT / dependency_locks.LOCK_DIR, tmp_path / dependency_locks.LOCK_DIR)
    return tmp_path


def test_a_new_dependency_makes_the_locks_stale(tmp_path: Path) -> None:
    root = _copy_checkout(tmp_path)
    assert dependency_locks.problems(root) == []
    pyproject = root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace(
        '"pydantic>=2.6,<3",', '"pydantic>=2.6,<3",\n    "attrs>=23",', 1))
    stale = dependency_locks.problems(root)
    assert len(stale) == len(dependency_locks.TARGETS)
    assert all("run `python3 dev.py lock`" in problem for problem in stale)


def test_a_changed_bound_or_extra_makes_the_locks_stale(tmp_path: Path) -> None:
    root = _copy_checkout(tmp_path)
    pyproject = root / "pyproject.toml"
    text = pyproject.read_text()
    pyproject.write_text(text.replace('"redis>=5.0"', '"redis>=5.1"', 1))
    assert dependency_locks.problems(root)
    pyproject.write_text(text)
    assert dependency_locks.problems(root) == []


def test_diverging_pins_and_missing_hashes_are_problems(tmp_path: Path) -> None:
    root = _copy_checkout(tmp_path)
    one = dependency_locks.lock_path(root, "3.13", "arm64")
    text = one.read_text()
    version = dependency_locks.parse(one).pins["pydantic"].version
    one.write_text(text.replace(f"pydantic=={version} ", "pydantic==0.0.1 ", 1))
    assert any("pydantic 0.0.1" in p for p in dependency_locks.problems(root))
    one.write_text(re.sub(r"(annotated-types==\S+) \\\n(\s+--hash=\S+ \\\n)*\s+--hash=\S+\n",
                          r"\1\n", text, count=1))
    assert any("no hashes for ['annotated-types']" in p for p in dependency_locks.problems(root))
    one.unlink()
    assert any(p.startswith(f"{one.name}: missing") for p in dependency_locks.problems(root))


def test_parse_reads_pins_hashes_and_digest(tmp_path: Path) -> None:
    path = tmp_path / "lock.txt"
    path.write_text("# input sha256: " + "a" * 64 + "\nFoo_Bar==1.2 \\\n    --hash=sha256:"
                    + "b" * 64 + " \\\n    --hash=sha256:" + "c" * 64 + "\nbaz==2.0\n")
    lock = dependency_locks.parse(path)
    assert lock.digest == "a" * 64
    assert lock.pins["foo-bar"].hashes == ("sha256:" + "b" * 64, "sha256:" + "c" * 64)
    assert lock.versions() == {"foo-bar": "1.2", "baz": "2.0"}
    assert "foo-bar==1.2 \\\n    --hash=sha256:" in lock.requirements_text()
    assert lock.requirements_text(["Baz"]).count("==") == 1
    assert lock.constraints_text() == "foo-bar==1.2\nbaz==2.0\n"


def test_disagreeing_targets_are_capped_at_the_lowest_pin(tmp_path: Path) -> None:
    def lock(versions: dict[str, str]) -> dependency_locks.Lock:
        made = dependency_locks.Lock(tmp_path / "x.txt", None)
        made.pins = {n: dependency_locks.Pin(n, v, ("sha256:" + "0" * 64,)) for n, v in versions.items()}
        return made

    made = {("3.11", "x86_64"): lock({"a": "2.4.0", "b": "1.0", "c": "1.0"}),
            ("3.11", "arm64"): lock({"a": "2.10.0", "b": "1.0"}),
            ("3.13", "arm64"): lock({"a": "2.5.0rc1", "b": "1.0"})}
    assert dependency_locks.disagreements(made) == {"a": "2.4.0"}
    key = dependency_locks.version_key
    assert key("2.10.0") > key("2.9.1") > key("2.9.1rc1")
    assert key("2.9.0.post0") > key("2.9.0")


def test_the_lock_command_is_uv_with_hashes_for_the_target(tmp_path: Path) -> None:
    command = dependency_locks.compile_command("uv", tmp_path / "in.txt", tmp_path / "out.txt", python="3.13",
                                    arch="arm64", constraints=None, upgrade=["pydantic"])
    assert command[:3] == ["uv", "pip", "compile"]
    assert "--generate-hashes" in command and "--only-binary" in command
    assert command[command.index("--python-platform") + 1] == "aarch64-manylinux_2_28"
    assert command[command.index("--upgrade-package") + 1] == "pydantic"
    assert "--upgrade" in dependency_locks.compile_command("uv", tmp_path, tmp_path, python="3.11",
                                                arch="x86_64", constraints=None, upgrade=True)
