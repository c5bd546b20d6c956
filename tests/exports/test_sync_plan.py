"""The pure parts of the sync: walk order, the plan's rules, the manifest format."""

from __future__ import annotations

import gzip
import io
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opsfn.errors import InvalidContent
from opsfn.routes.exports.sync.model import Ignored, LocalFile, RemoteEntry, Unreadable
from opsfn.routes.exports.sync.plan import plan, unchanged
from opsfn.routes.exports.sync.remote import (
    ManifestWriter,
    Target,
    decode_line,
    encode_line,
    normalise_prefix,
    read_manifest,
)
from opsfn.routes.exports.sync.walk import subtree_before, walk


def local(rel: str, size: int = 1, mtime: int = 10, mode: int = 0o644) -> LocalFile:
    return LocalFile(rel, "/nowhere/" + rel, size, mtime, mode)


def kinds(steps: list) -> list[tuple[str, str]]:
    return [(s.kind, s.rel) for s in steps]


# -- walk ----------------------------------------------------------------------------------------
def make_tree(root: Path, rels: list[str]) -> None:
    for rel in rels:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rel.encode())


def test_walk_yields_keys_in_s3_byte_order(tmp_path: Path) -> None:
    rels = ["a/x", "a-b", "a.c", "a0", "b/c/d", "b/c-d", "B", "é/1", "z"]
    make_tree(tmp_path, rels)
    got = [item.rel for item in walk(str(tmp_path))]
    assert got == sorted(rels, key=lambda r: r.encode("utf-8"))


name = st.text(alphabet="ab-._/0é", min_size=1, max_size=6).filter(
    lambda s: not s.startswith("/") and not s.endswith("/") and "//" not in s
    and all(part not in (".", "..") for part in s.split("/")))


@settings(max_examples=40, deadline=None)
@given(st.lists(name, min_size=1, max_size=12, unique=True))
def test_walk_order_matches_sorted_keys_for_any_tree(tmp_path_factory: pytest.TempPathFactory,
                                                    rels: list[str]) -> None:
    # A file and a directory cannot share a path: keep only names that are not prefixes of others.
    rels = [r for r in rels if not any(o.startswith(r + "/") for o in rels)]
    rels = [r for r in rels if not any(r.startswith(o + "/") for o in rels)]
    root = tmp_path_factory.mktemp("w")
    make_tree(root, rels)
    assert [i.rel for i in walk(str(root))] == sorted(rels, key=lambda r: r.encode("utf-8"))


def test_walk_resumes_after_checkpoint_and_prunes_finished_directories(tmp_path: Path) -> None:
    make_tree(tmp_path, ["a/1", "a/2", "b/1", "b/2", "c"])
    assert [i.rel for i in walk(str(tmp_path), resume_after="b/1")] == ["b/2", "c"]
    assert [i.rel for i in walk(str(tmp_path), resume_after="a/2")] == ["b/1", "b/2", "c"]


def test_subtree_before() -> None:
    assert subtree_before("a/", "b")
    assert not subtree_before("a/", "a/x")
    assert not subtree_before("b/", "a")
    assert not subtree_before("a/", None)


def test_walk_non_recursive_sees_top_level_files_only(tmp_path: Path) -> None:
    make_tree(tmp_path, ["a/1", "top", "z"])
    assert [i.rel for i in walk(str(tmp_path), recursive=False)] == ["top", "z"]


def test_symlinks_are_followed_only_to_files_inside_the_root(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("secret")
    root = tmp_path / "root"
    make_tree(root, ["d/f.txt"])
    (root / "in-link").symlink_to(root / "d" / "f.txt")
    (root / "out-link").symlink_to(outside)
    (root / "dir-link").symlink_to(root / "d")
    (root / "dangling").symlink_to(root / "missing")
    items = {i.rel: i for i in walk(str(root))}
    assert isinstance(items["in-link"], LocalFile) and items["in-link"].size == len(b"d/f.txt")
    assert isinstance(items["out-link"], Ignored)
    assert isinstance(items["dir-link"], Ignored)
    assert "dangling" not in items
    assert "dir-link/f.txt" not in items


def test_special_files_are_ignored(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    assert [type(i).__name__ for i in walk(str(tmp_path))] == ["Ignored"]


# -- plan ----------------------------------------------------------------------------------------
def test_unchanged_against_manifest_is_exact() -> None:
    entry = RemoteEntry("f", 5, mtime_ns=100, mode=0o644)
    assert unchanged(local("f", 5, 100, 0o644), entry)
    assert not unchanged(local("f", 5, 101, 0o644), entry)  # touched (even backwards in time)
    assert not unchanged(local("f", 5, 99, 0o644), entry)
    assert not unchanged(local("f", 6, 100, 0o644), entry)
    assert not unchanged(local("f", 5, 100, 0o600), entry)  # mode change re-uploads metadata


def test_unchanged_against_listing_uses_upload_time() -> None:
    listed = RemoteEntry("f", 5, last_modified_ns=1_000)
    assert unchanged(local("f", 5, 999), listed)
    assert unchanged(local("f", 5, 1_000), listed)
    assert not unchanged(local("f", 5, 1_001), listed)
    assert not unchanged(local("f", 4, 10), listed)


def test_plan_merges_both_sides_in_key_order() -> None:
    locals_ = [local("a", 1), local("b", 2), local("d", 4)]
    remotes = [RemoteEntry("b", 2, 10, 0o644), RemoteEntry("c", 3, 10, 0o644),
               RemoteEntry("d", 9, 10, 0o644)]
    assert kinds(list(plan(locals_, remotes, delete=True))) == [
        ("upload", "a"), ("skip", "b"), ("delete", "c"), ("upload", "d")]
    assert kinds(list(plan(locals_, remotes, delete=False)))[2] == ("keep", "c")


def test_plan_never_deletes_below_an_unreadable_directory() -> None:
    locals_ = [local("a"), Unreadable("p/", True), local("q")]
    remotes = [RemoteEntry("p/1", 1), RemoteEntry("p/2", 1), RemoteEntry("pz", 1)]
    assert kinds(list(plan(locals_, remotes, delete=True))) == [
        ("upload", "a"), ("fail", "p/"), ("keep", "p/1"), ("keep", "p/2"), ("delete", "pz"),
        ("upload", "q")]


def test_plan_keeps_remote_copies_of_ignored_and_unreadable_files() -> None:
    steps = list(plan([Ignored("l", "symlink"), Unreadable("u", False)],
                      [RemoteEntry("l", 1), RemoteEntry("u", 1)], delete=True))
    assert [(s.kind, s.remote is not None) for s in steps] == [("ignore", True), ("fail", True)]


# -- manifest ------------------------------------------------------------------------------------
def test_manifest_lines_round_trip() -> None:
    for entry in (RemoteEntry("a/é", 3, 123, 0o600), RemoteEntry("b", 4, last_modified_ns=9)):
        assert decode_line(encode_line(entry)) == entry


def test_manifest_stream_round_trip_and_resume() -> None:
    writer = ManifestWriter()
    entries = [RemoteEntry(f"k{i:03d}", i, i, 0o644) for i in range(50)]
    for entry in entries:
        writer.write(entry)
    data = writer.finish().read()
    writer.close()
    assert list(read_manifest(io.BytesIO(data), None)) == entries
    assert [e.rel for e in read_manifest(io.BytesIO(data), "k047")] == ["k048", "k049"]


def test_corrupt_or_unsorted_manifest_is_rejected() -> None:
    with pytest.raises(InvalidContent):
        list(read_manifest(io.BytesIO(gzip.compress(b'["a",1,2,3]\nnot json\n')), None))
    with pytest.raises(InvalidContent):
        list(read_manifest(io.BytesIO(gzip.compress(b'["b",1,2,3]\n["a",1,2,3]\n')), None))


def test_targets_and_prefixes() -> None:
    assert normalise_prefix("/a/b") == "a/b/"
    assert normalise_prefix("") == ""
    top, full = Target("bkt", "p/", recursive=False), Target("bkt", "p/")
    assert top.lock_id != full.lock_id
    assert top.state_dir(".s/") != full.state_dir(".s/")
    assert full.state_dir(".s/").startswith(".s/")
