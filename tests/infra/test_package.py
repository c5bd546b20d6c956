"""``opsfn package``: locked wheels, bytecode for the runtime's Python, only the function inside."""

from __future__ import annotations

import ast
import json
import os
import stat
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from opsfn.tooling import dependency_locks, packaging

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "src" / "opsfn"


def test_requirements_resolve_extras_from_pyproject() -> None:
    wanted = packaging.requirements(packaging.project_root(), ("imaging", "certs", "cache"))
    from packaging.requirements import Requirement

    names = {Requirement(w).name.lower() for w in wanted}
    assert {"pydantic", "aws-lambda-powertools", "pydicom", "pillow", "cryptography", "redis"} <= names
    assert "moto" not in names and "pytest" not in names
    with pytest.raises(dependency_locks.LockError, match="unknown extra"):
        packaging.requirements(packaging.project_root(), ("nope",))


def test_pip_command_installs_the_hashed_lock_for_the_lambda_platform(tmp_path: Path) -> None:
    command = packaging.pip_command(tmp_path / "r.txt", tmp_path, "arm64", "3.13")
    assert "--only-binary=:all:" in command and "--require-hashes" in command
    assert "--no-deps" in command  # the lock is complete: nothing may be resolved anew
    assert command[command.index("-r") + 1] == str(tmp_path / "r.txt")
    platforms = [command[i + 1] for i, part in enumerate(command) if part == "--platform"]
    assert platforms == ["manylinux2014_aarch64", "manylinux_2_28_aarch64"]
    assert command[command.index("--python-version") + 1] == "3.13"
    assert command[command.index("--abi") + 1] == "cp313"


def test_the_package_installs_the_runtime_lock_without_the_sdk() -> None:
    root = packaging.project_root()
    text = packaging.lock_requirements(root, "x86_64", "3.13", with_sdk=False)
    lock = dependency_locks.load(root, "3.13", "x86_64")
    names = {line.split("==")[0] for line in text.splitlines() if "==" in line}
    assert names == set(lock.pins) - {dependency_locks.normalise(d) for d in packaging.SDK_DISTRIBUTIONS}
    assert "pydantic" in names and "boto3" not in names and "jmespath" in names
    assert text.count("--hash=sha256:") >= len(names)
    with_sdk = packaging.lock_requirements(root, "x86_64", "3.13", with_sdk=True)
    assert f"boto3=={lock.pins['boto3'].version}" in with_sdk


def test_strip_tree_removes_tests_docs_stubs_caches_and_dicom_test_data(tmp_path: Path) -> None:
    keep = tmp_path / "pkg" / "module.py"
    kept_doc_package = tmp_path / "pkg" / "doc" / "__init__.py"
    for path in (keep, kept_doc_package, tmp_path / "pkg" / "tests" / "test_x.py",
                 tmp_path / "pkg" / "__pycache__" / "m.cpython-311.pyc",
                 tmp_path / "pkg" / "include" / "x.h",
                 tmp_path / "pkg" / "module.pyi",
                 tmp_path / "other" / "docs" / "index.rst",
                 tmp_path / "thing-stubs" / "__init__.pyi",
                 tmp_path / "botocore" / "data" / "s3" / "2006-03-01" / "examples-1.json",
                 tmp_path / "pydicom" / "data" / "test_files" / "CT.dcm",
                 tmp_path / "pydicom" / "data" / "palettes" / "hotiron"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * 10)
    removed = packaging.strip_tree(tmp_path)
    assert removed == 80
    assert keep.exists() and kept_doc_package.exists()  # a package named doc is code
    assert (tmp_path / "pydicom" / "data" / "palettes" / "hotiron").exists()
    for gone in ("pydicom/data/test_files", "pkg/tests", "pkg/__pycache__", "pkg/module.pyi",
                 "other/docs", "thing-stubs", "botocore/data/s3/2006-03-01/examples-1.json"):
        assert not (tmp_path / gone).exists(), gone


# -- only the function in the function --------------------------------------------------------------
def _shipped_modules() -> list[Path]:
    return [p for p in SOURCE.rglob("*.py") if packaging.shipped(p.relative_to(SOURCE))]


def test_tooling_cli_and_test_helpers_are_not_shipped() -> None:
    assert packaging.shipped(Path("handler.py"))
    assert packaging.shipped(Path("routes/imaging/results.py"))
    assert packaging.shipped(Path("routes/manifest.json"))
    for relative in ("tooling/cli.py", "tooling/packaging.py", "tooling/local/static/index.html",
                     "testing.py", "routes/imaging/cli.py", "routes/exports/cli.py",
                     "core/__pycache__/app.cpython-311.pyc"):
        assert not packaging.shipped(Path(relative)), relative


def _imported_names(tree: ast.AST, module: str) -> Iterator[str]:
    package = module.rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(
                node.func, "id", "")) == "import_module" and node.args and isinstance(
                node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            yield node.args[0].value


def test_nothing_shipped_imports_what_stays_out() -> None:
    """Static proof for every shipped module, lazy imports inside functions included."""
    offenders = []
    for path in _shipped_modules():
        relative = path.relative_to(SOURCE.parent).with_suffix("")
        module = ".".join(relative.parts).removesuffix(".__init__")
        for name in _imported_names(ast.parse(path.read_text()), module):
            if name.startswith(("opsfn.tooling", "opsfn.testing")) or (
                    name.startswith("opsfn.routes.") and name.endswith(".cli")):
                offenders.append(f"{module} imports {name}")
    assert offenders == []


def test_every_client_the_shipped_code_makes_names_its_service() -> None:
    """--with-sdk keeps only the botocore models of the services found this way."""
    dynamic = []
    for path in _shipped_modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                    node.func.attr == "client" and isinstance(node.func.value, ast.Name) and \
                    node.func.value.id == "aws" and not (
                    node.args and isinstance(node.args[0], ast.Constant)):
                dynamic.append(f"{path.name}:{node.lineno}")
    assert dynamic == []
    tree = SOURCE.parent
    found = packaging.services_called(tree)
    assert {"dynamodb", "s3", "sqs", "sns", "secretsmanager", "iam", "rds", "sts"} <= found


def test_prune_service_models_keeps_called_services(tmp_path: Path) -> None:
    data = tmp_path / "botocore" / "data"
    for service in ("s3", "dynamodb", "ec2", "sagemaker"):
        (data / service / "2020-01-01").mkdir(parents=True)
        (data / service / "2020-01-01" / "service-2.json.gz").write_bytes(b"x" * 100)
    (data / "endpoints.json").write_text("{}")
    removed = packaging.prune_service_models(tmp_path, frozenset({"s3", "dynamodb"}))
    assert removed == 200
    assert sorted(p.name for p in data.iterdir()) == ["dynamodb", "endpoints.json", "s3"]


# -- an interpreter of the target version -----------------------------------------------------------
def _fake_python(path: Path, answer: str, status: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\necho '{answer}'\nexit {status}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_interpreter_found_in_pyenv_versions_past_a_refusing_shim(tmp_path: Path) -> None:
    shims = tmp_path / "shims"
    _fake_python(shims / "python3.19", "pyenv: python3.19: command not found", status=127)
    older = _fake_python(tmp_path / "pyenv" / "versions" / "3.19.1" / "bin" / "python3.19",
                         "cpython 3.19")
    newer = _fake_python(tmp_path / "pyenv" / "versions" / "3.19.10" / "bin" / "python3.19",
                         "cpython 3.19")
    env = {"PATH": str(shims), "PYENV_ROOT": str(tmp_path / "pyenv"), "HOME": str(tmp_path)}
    candidates = packaging.interpreter_candidates("3.19", env)
    assert candidates.index(str(newer)) < candidates.index(str(older))
    assert packaging.find_interpreter("3.19", environ=env) == str(newer)


def test_interpreter_found_among_uv_managed_pythons(tmp_path: Path) -> None:
    uv_python = _fake_python(tmp_path / ".local" / "share" / "uv" / "python" /
                             "cpython-3.19.2-linux-x86_64-gnu" / "bin" / "python3.19",
                             "cpython 3.19")
    _fake_python(tmp_path / "bin" / "python3", "pypy 3.19")  # not CPython: its bytecode differs
    env = {"PATH": str(tmp_path / "bin"), "HOME": str(tmp_path)}
    assert packaging.find_interpreter("3.19", environ=env) == str(uv_python)
    env = {"PATH": str(tmp_path / "bin"), "HOME": str(tmp_path / "elsewhere"),
           "UV_PYTHON_INSTALL_DIR": str(tmp_path / ".local" / "share" / "uv" / "python")}
    assert packaging.find_interpreter("3.19", environ=env) == str(uv_python)


def test_this_interpreter_is_found_and_another_version_is_not() -> None:
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    assert packaging.find_interpreter(version) is not None
    assert packaging.find_interpreter("2.7", "/nonexistent/python") is None


def test_no_interpreter_fails_at_once_saying_how_to_get_one(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "pyenv"))
    with pytest.raises(packaging.PackageError) as raised:
        packaging.build("x86_64", python_version="3.19", output=tmp_path / "x.zip")
    message = str(raised.value)
    for hint in ("pyenv install 3.19", "uv python install 3.19", "--compile-with", "--no-bytecode"):
        assert hint in message
    assert not (tmp_path / "x.zip").exists()


def test_default_output_is_dist_under_the_current_directory(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert packaging.default_output("x86_64") == tmp_path / "dist" / "opsfn-lambda-x86_64.zip"
    assert SOURCE not in packaging.default_output("arm64").parents


def test_over_the_direct_upload_limit_says_which_parts(tmp_path: Path) -> None:
    zip_path = tmp_path / "big.zip"
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("botocore/data/x.json.gz", os.urandom(3000))
        archive.writestr("numpy/core.so", os.urandom(1000))
    built = packaging.Built(zip_path, Path("<removed>"), packaging.MAX_ZIPPED + 1, 10, 2, True)
    with pytest.raises(packaging.PackageError) as raised:
        packaging.check_limits(built)
    message = str(raised.value)
    assert "over Lambda's 50 MiB direct-upload limit" in message
    assert message.index("botocore") < message.index("numpy")
    assert "--for-s3" in message
    packaging.check_limits(built, for_s3=True)  # through S3 only the unzipped limit applies


def test_sam_build_never_ships_without_bytecode() -> None:
    makefile = (ROOT / "infra" / "Makefile").read_text()
    build_lines = [line.strip() for line in makefile.splitlines() if line.startswith("\t")]
    assert "--no-bytecode" not in makefile
    assert any("opsfn.tooling.packaging" in line and "--python-version $(RUNTIME_PYTHON)" in line
               for line in build_lines)
    assert any(line.startswith("test -f") and "handler.cpython-" in line for line in build_lines)
    assert "RUNTIME_PYTHON ?= " + packaging.RUNTIME_PYTHON in makefile
    template = (ROOT / "infra" / "template.yaml").read_text()
    assert f"Runtime: python{packaging.RUNTIME_PYTHON}" in template


# -- the real thing ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def runtime_zip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """The x86_64 zip for the runtime's Python when one is on this machine, else this one's."""
    version = packaging.RUNTIME_PYTHON
    interpreter = packaging.find_interpreter(version)
    if interpreter is None:
        version = f"{sys.version_info[0]}.{sys.version_info[1]}"
        interpreter = sys.executable
    out = tmp_path_factory.mktemp("package")
    result = subprocess.run(
        [sys.executable, "-m", "opsfn.tooling.cli", "package", "--arch", "x86_64",
         "--python-version", version, "--compile-with", interpreter],
        capture_output=True, text=True, timeout=900, check=False, cwd=out)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "zipped:" in result.stdout and "bytecode: yes" in result.stdout
    return out / "dist" / "opsfn-lambda-x86_64.zip", version, interpreter


@pytest.mark.slow
def test_zip_holds_the_locked_function_with_its_bytecode(runtime_zip: tuple[Path, str, str]
                                                         ) -> None:
    zip_path, version, _ = runtime_zip
    tag = version.replace(".", "")
    lock = dependency_locks.load(ROOT, version, "x86_64")
    with zipfile.ZipFile(zip_path) as archive:
        names = archive.namelist()
    assert "opsfn/handler.py" in names and "opsfn/routes/manifest.json" in names
    assert f"opsfn/__pycache__/handler.cpython-{tag}.pyc" in names
    assert not [n for n in names if n.startswith(("opsfn/tooling/", "opsfn/testing.py"))]
    assert not [n for n in names if n.startswith("opsfn/routes/") and n.endswith("/cli.py")]
    assert not [n for n in names if "/tests/" in n or "pydicom/data/test_files" in n]
    assert not [n for n in names if n.startswith(("boto3/", "botocore/"))]
    assert not [n for n in names if n.endswith(".pyi")]
    sources = {n for n in names if n.endswith(".py")}
    compiled = {n for n in names if n.endswith(".pyc")}
    assert not [n for n in compiled if f".cpython-{tag}." not in n]  # no other version's bytecode
    missing = [s for s in sources if "/".join(
        [*s.split("/")[:-1], "__pycache__", s.split("/")[-1][:-3] + f".cpython-{tag}.pyc"])
        not in compiled]
    assert missing == []
    for name in ("pydantic", "numpy", "pylibjpeg-libjpeg", "cryptography"):
        pin = lock.pins[name]
        dist = f"{name.replace('-', '_')}-{pin.version}.dist-info/METADATA"
        assert dist in names, f"{dist} (the locked version) is not in the zip"
    assert zip_path.stat().st_size <= packaging.MAX_ZIPPED


@pytest.mark.slow
def test_zip_runs_read_only_from_its_bytecode_without_tooling(
        runtime_zip: tuple[Path, str, str], tmp_path: Path) -> None:
    zip_path, _, interpreter = runtime_zip
    tree = tmp_path / "tree"
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(tree)
    for path in [tree, *tree.rglob("*")]:  # Lambda's /var/task is read-only
        path.chmod(path.stat().st_mode & ~0o222)
    sdk = Path(__import__("boto3").__file__).parents[1]  # this venv's SDK, like the runtime's
    code = (
        "import sys, json\n"
        f"sys.path[:0] = [{str(tree)!r}, {str(sdk)!r}]\n"
        "sys.dont_write_bytecode = True  # the SDK here is this venv's: leave it as it is\n"
        "import opsfn.handler as h\n"
        "assert h.__file__.startswith(sys.path[0]), h.__file__\n"
        "reply = h.lambda_handler({'action': 'health'}, None)\n"
        "try:\n"
        "    h.lambda_handler({'action': 'record_activity', 'at': 'not a time'}, None)\n"
        "except Exception as exc:\n"
        "    invalid = type(exc).__name__\n"
        "import pydicom, PIL.Image, numpy, cryptography.x509\n"
        "assert pydicom.__file__.startswith(sys.path[0])\n"
        "loaded = [m for m in sys.modules if m.startswith(('opsfn.tooling', 'opsfn.testing'))]\n"
        "ours = [m.__spec__.cached for n, m in list(sys.modules.items()) if n.startswith('opsfn')\n"
        "        and getattr(m, '__spec__', None) is not None and m.__spec__.cached]\n"
        "print(json.dumps({'reply': reply, 'invalid': invalid, 'loaded': loaded,\n"
        "                  'pyc': all(__import__('os').path.exists(c) for c in ours)}))\n"
    )
    env = {"PATH": "/usr/bin:/bin", "AWS_REGION": "us-east-1", "POWERTOOLS_METRICS_DISABLED": "true"}
    # -I: no environment paths, no user site; -S: no site-packages: only the zip, the SDK, stdlib.
    run = subprocess.run([interpreter, "-I", "-S", "-c", code], capture_output=True, text=True,
                         timeout=120, check=False, cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["reply"]["status"] == "ok" and result["reply"]["routes"]["action"] >= 1
    assert result["invalid"] == "ValidationFailed"
    assert result["loaded"] == [] and result["pyc"] is True


@pytest.mark.slow
def test_the_zip_with_the_sdk_fits_the_direct_upload_limit(tmp_path: Path) -> None:
    """x86_64 is the larger architecture (its wheels bundle more shared libraries); with the
    SDK and bytecode it is within 1.2 MiB of the limit, so a new pin that pushes it over shows
    here, not at deploy time."""
    version = packaging.RUNTIME_PYTHON
    interpreter = packaging.find_interpreter(version)
    if interpreter is None:
        version, interpreter = f"{sys.version_info[0]}.{sys.version_info[1]}", sys.executable
    result = subprocess.run(
        [sys.executable, "-m", "opsfn.tooling.cli", "package", "--arch", "x86_64", "--with-sdk",
         "--python-version", version, "--compile-with", interpreter],
        capture_output=True, text=True, timeout=900, check=False, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    zip_path = tmp_path / "dist" / "opsfn-lambda-x86_64.zip"
    with zipfile.ZipFile(zip_path) as archive:
        names = set(archive.namelist())
    lock = dependency_locks.load(ROOT, version, "x86_64")
    for name in ("boto3", "botocore"):
        assert f"{name}-{lock.pins[name].version}.dist-info/METADATA" in names
    assert zip_path.stat().st_size <= packaging.MAX_ZIPPED


@pytest.mark.slow
def test_sam_build_makefile_builds_a_compiled_tree(tmp_path: Path) -> None:
    if packaging.find_interpreter(packaging.RUNTIME_PYTHON) is None:
        pytest.skip(f"no Python {packaging.RUNTIME_PYTHON} on this machine to compile with")
    artifacts = tmp_path / "artifacts"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    result = subprocess.run(["make", "-f", str(ROOT / "infra" / "Makefile"), "build-OpsFunction",
                             f"ARTIFACTS_DIR={artifacts}"], capture_output=True, text=True,
                            timeout=900, check=False, cwd=tmp_path, env=env)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    tag = packaging.RUNTIME_PYTHON.replace(".", "")
    assert (artifacts / "opsfn" / "__pycache__" / f"handler.cpython-{tag}.pyc").is_file()
    assert not (artifacts / "opsfn" / "tooling").exists()
    assert list(artifacts.glob("pydantic_core/_pydantic_core.cpython-*-aarch64-linux-gnu.so"))
