"""The construct's code asset: the tree ``opsfn package`` builds, cached by its inputs, no CDK inside."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import pytest

from opsfn.cdk import code
from opsfn.tooling import packaging


def test_copy_package_leaves_the_cdk_construct_and_the_tooling_out(tmp_path: Path) -> None:
    copied = packaging.copy_package(packaging.project_root(), tmp_path)
    assert (tmp_path / "opsfn" / "handler.py").is_file()
    assert (tmp_path / "opsfn" / "routes" / "tls" / "__init__.py").is_file()
    assert not (tmp_path / "opsfn" / "cdk").exists()
    assert not (tmp_path / "opsfn" / "tooling").exists()
    assert not list(tmp_path.rglob("__pycache__"))
    assert copied == sum(1 for f in (tmp_path / "opsfn").rglob("*") if f.is_file())


def test_the_built_tree_is_reused_while_its_inputs_are_unchanged(lambda_tree: Path) -> None:
    handler = lambda_tree / "opsfn" / "handler.py"
    before = handler.stat().st_mtime_ns
    assert code.build_package("arm64", lambda_tree) == lambda_tree
    assert handler.stat().st_mtime_ns == before  # not rebuilt
    stamp = lambda_tree.parent / f"{lambda_tree.name}{code.STAMP}"
    assert stamp.read_text() == code.inputs_digest(packaging.project_root(), "arm64",
                                                   packaging.RUNTIME_PYTHON)
    assert not (lambda_tree / "opsfn" / "cdk").exists()
    assert (lambda_tree / "pydantic_core").is_dir()  # Lambda-platform wheels, not this machine's
    assert list((lambda_tree / "pydantic_core").glob("*aarch64*.so"))


def test_inputs_digest_follows_sources_and_options_but_not_the_construct(tmp_path: Path) -> None:
    root = tmp_path / "checkout"
    (root / "src" / "opsfn" / "cdk").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (root / "src" / "opsfn" / "handler.py").write_text("print(1)\n")
    first = code.inputs_digest(root, "arm64", "3.13")
    (root / "src" / "opsfn" / "cdk" / "construct.py").write_text("changed = True\n")
    (root / "src" / "opsfn" / "__pycache__").mkdir()
    (root / "src" / "opsfn" / "__pycache__" / "handler.cpython-311.pyc").write_bytes(b"x")
    assert code.inputs_digest(root, "arm64", "3.13") == first
    assert code.inputs_digest(root, "x86_64", "3.13") != first
    (root / "src" / "opsfn" / "handler.py").write_text("print(2)\n")
    assert code.inputs_digest(root, "arm64", "3.13") != first


def test_a_stale_or_interrupted_build_is_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                 ) -> None:
    builds: list[Path] = []

    def fake_build(arch: str, **options: Any) -> None:
        tree = options["tree_dir"]
        assert not tree.exists() or not any(tree.iterdir())
        (tree / "opsfn").mkdir(parents=True)
        (tree / "opsfn" / "handler.py").write_text("")
        builds.append(tree)

    monkeypatch.setattr(packaging, "build", fake_build)
    tree = tmp_path / "opsfn-lambda-arm64"
    code.build_package("arm64", tree)
    code.build_package("arm64", tree)
    assert len(builds) == 1
    stamp = tree.parent / f"{tree.name}{code.STAMP}"
    stamp.write_text("inputs of another build")
    code.build_package("arm64", tree)
    stamp.unlink()  # as after a build that died before writing its stamp
    code.build_package("arm64", tree)
    assert len(builds) == 3


def test_code_path_takes_a_zip_or_a_tree_and_refuses_anything_else(tmp_path: Path) -> None:
    archive = tmp_path / "opsfn-lambda-arm64.zip"
    with zipfile.ZipFile(archive, "w") as written:
        written.writestr("opsfn/handler.py", "")
    assert code.code_path(archive, "arm64") == archive
    (tmp_path / "tree" / "opsfn").mkdir(parents=True)
    (tmp_path / "tree" / "opsfn" / "handler.py").write_text("")
    assert code.code_path(tmp_path / "tree", "arm64") == tmp_path / "tree"
    with pytest.raises(ValueError, match="neither a zip nor a package tree"):
        code.code_path(tmp_path, "arm64")
    with pytest.raises(ValueError, match="neither a zip nor a package tree"):
        code.code_path(tmp_path / "missing.zip", "arm64")
