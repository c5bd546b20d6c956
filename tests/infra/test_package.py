"""``opsfn package``: the zip imports and answers ``health`` in a bare interpreter."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from opsfn.tooling import packaging


def test_requirements_resolve_extras_from_pyproject() -> None:
    wanted = packaging.requirements(packaging.project_root(), "imaging,certs,cache")
    names = {w.split(">")[0].split("=")[0].split("<")[0].lower() for w in wanted}
    assert {"pydantic", "aws-lambda-powertools", "pydicom", "pillow", "cryptography", "redis"} <= names
    assert "moto[server]" not in {n.split(">")[0] for n in wanted}
    with pytest.raises(packaging.PackageError, match="unknown extra"):
        packaging.requirements(packaging.project_root(), "nope")


def test_pip_command_targets_the_lambda_platform(tmp_path: Path) -> None:
    command = packaging.pip_command(["pydantic"], tmp_path, "arm64", "3.13")
    assert "--only-binary=:all:" in command
    assert command[command.index("--platform") + 1] == "manylinux2014_aarch64"
    assert command[command.index("--python-version") + 1] == "3.13"
    assert command[command.index("--abi") + 1] == "cp313"


def test_strip_tree_removes_tests_caches_and_dicom_test_data(tmp_path: Path) -> None:
    keep = tmp_path / "pkg" / "module.py"
    for path in (keep, tmp_path / "pkg" / "tests" / "test_x.py",
                 tmp_path / "pkg" / "__pycache__" / "m.cpython-311.pyc",
                 tmp_path / "pkg" / "include" / "x.h",
                 tmp_path / "pydicom" / "data" / "test_files" / "CT.dcm",
                 tmp_path / "pydicom" / "data" / "palettes" / "hotiron"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * 10)
    removed = packaging.strip_tree(tmp_path)
    assert removed == 40
    assert keep.exists()
    assert (tmp_path / "pydicom" / "data" / "palettes" / "hotiron").exists()
    assert not (tmp_path / "pydicom" / "data" / "test_files").exists()
    assert not (tmp_path / "pkg" / "tests").exists()


def test_no_interpreter_for_another_version_means_no_bytecode() -> None:
    assert packaging.find_interpreter("2.7", "/nonexistent/python") is None
    assert packaging.find_interpreter(f"{sys.version_info[0]}.{sys.version_info[1]}") is not None


@pytest.mark.slow
def test_x86_64_zip_imports_and_answers_health(tmp_path: Path) -> None:
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    zip_path = tmp_path / "opsfn-lambda-x86_64.zip"
    result = subprocess.run(
        [sys.executable, "-m", "opsfn.tooling.cli", "package", "--arch", "x86_64", "--python-version",
         version, "--output", str(zip_path), "--require-bytecode"],
        capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "zipped:" in result.stdout and "unzipped:" in result.stdout
    with zipfile.ZipFile(zip_path) as archive:
        names = archive.namelist()
        assert "opsfn/handler.py" in names
        assert "opsfn/tooling/local/static/index.html" in names
        assert not [n for n in names if "/tests/" in n or "pydicom/data/test_files" in n]
        assert not [n for n in names if n.startswith(("boto3/", "botocore/"))]
        assert [n for n in names if n.startswith("opsfn/__pycache__/handler.")]
        assert zip_path.stat().st_size <= packaging.MAX_ZIPPED
        assert sum(i.file_size for i in archive.infolist()) <= packaging.MAX_UNZIPPED
        archive.extractall(tmp_path / "tree")
    tree = tmp_path / "tree"
    code = (
        "import sys, json\n"
        f"sys.path.insert(0, {str(tree)!r})\n"
        "import opsfn.handler as h\n"
        "assert h.__file__.startswith(sys.path[0]), h.__file__\n"
        "reply = h.lambda_handler({'action': 'health'}, None)\n"
        "import pydicom, PIL.Image, numpy, cryptography.x509\n"
        "assert pydicom.__file__.startswith(sys.path[0])\n"
        "print(json.dumps(reply))\n"
    )
    # -I: no environment, no user site; -S: no site-packages, so only the zip's tree and stdlib.
    run = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True,
                         timeout=120, check=False, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    reply = json.loads(run.stdout.strip().splitlines()[-1])
    assert reply["status"] == "ok"
    assert reply["routes"]["action"] >= 1
