"""A streaming walk of the source tree in S3 key order, so it can be merged with a listing.

Entries of a directory are sorted by name, with ``/`` appended to directory names: that makes
depth-first order equal to the byte order of the keys S3 lists (``a-b`` sorts before ``a/x``).
Only one directory's entries are held at a time per level. Symlinks are followed only when they
resolve to a regular file inside the root; directory links are never followed (no cycles).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator

from opsfn.routes.exports.sync.model import Ignored, LocalEntry, LocalFile, Unreadable


def _valid_name(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def subtree_before(dir_key: str, resume_after: str | None) -> bool:
    """True when every key under ``dir_key`` (ending in ``/``) sorts at or before the checkpoint."""
    return resume_after is not None and dir_key < resume_after and not resume_after.startswith(dir_key)


def _inside(real: str, root_real: str) -> bool:
    return real == root_real or real.startswith(root_real.rstrip(os.sep) + os.sep)


def _classify(entry: os.DirEntry[str], rel: str, root_real: str,
              private_real: tuple[str, ...] = ()) -> LocalEntry | None:
    """The leaf item for a non-directory entry (None when there is nothing to copy)."""
    path = entry.path
    try:
        if entry.is_symlink():
            real = path = os.path.realpath(entry.path)  # read the checked target, not the link
            if not _inside(real, root_real):
                return Ignored(rel, "symlink outside the source root")
            if any(_inside(real, private) for private in private_real):
                return Ignored(rel, "symlink into an excluded directory")
            st = os.stat(real)  # noqa: PTH116 - str paths from scandir
            if stat.S_ISDIR(st.st_mode):
                return Ignored(rel, "directory symlink")
        else:
            st = entry.stat(follow_symlinks=False)
    except FileNotFoundError:
        return None  # vanished (or a dangling link): nothing to copy
    except OSError:
        return Unreadable(rel, False)
    if not stat.S_ISREG(st.st_mode):
        return Ignored(rel, "not a regular file")
    return LocalFile(rel, path, st.st_size, st.st_mtime_ns, stat.S_IMODE(st.st_mode))


def excluded_dirs(root: str, private_dirs: list[str]) -> frozenset[str]:
    """Directory keys (``rel/``) of ``private_dirs`` that lie below ``root``; ``""`` when the
    root itself is one of them or inside one (nothing of it may be copied)."""
    root_abs = os.path.realpath(root)
    keys = set()
    for private in private_dirs:
        private_abs = os.path.realpath(private)
        if _inside(root_abs, private_abs):
            return frozenset({""})
        if _inside(private_abs, root_abs):
            keys.add(os.path.relpath(private_abs, root_abs).replace(os.sep, "/") + "/")
    return frozenset(keys)


def walk(root: str, *, recursive: bool = True, resume_after: str | None = None,
         exclude: frozenset[str] = frozenset()) -> Iterator[LocalEntry]:
    """Every entry below ``root`` in key order, after ``resume_after`` when resuming.

    Directories whose key is in ``exclude`` are not entered and yield nothing, as if absent.
    """
    if "" in exclude:
        return
    root_real = os.path.realpath(root)
    private_real = tuple(os.path.realpath(f"{root_real}/{key}") for key in exclude)
    yield from _walk_dir(root, "", root_real, recursive, resume_after, exclude=exclude,
                         private_real=private_real)


def _walk_dir(path: str, base: str, root_real: str, recursive: bool, resume_after: str | None,
              *, exclude: frozenset[str] = frozenset(), private_real: tuple[str, ...] = ()
              ) -> Iterator[LocalEntry]:
    try:
        with os.scandir(path) as it:
            entries = list(it)
    except FileNotFoundError:
        return
    except OSError:
        if base:
            yield Unreadable(base, True)
        else:
            raise
        return
    keyed: list[tuple[str, os.DirEntry[str]]] = []
    for entry in entries:
        try:
            is_dir = entry.is_dir(follow_symlinks=False)
        except OSError:
            is_dir = False
        keyed.append((entry.name + "/" if is_dir else entry.name, entry))
    keyed.sort(key=lambda pair: pair[0])
    for key, entry in keyed:
        rel = base + key
        if not _valid_name(entry.name):
            yield Unreadable(rel, key.endswith("/"))
            continue
        if key.endswith("/"):
            if not recursive or subtree_before(rel, resume_after) or rel in exclude:
                continue
            yield from _walk_dir(entry.path, rel, root_real, recursive, resume_after,
                                  exclude=exclude, private_real=private_real)
            continue
        if resume_after is not None and rel <= resume_after:
            continue
        item = _classify(entry, rel, root_real, private_real)
        if item is not None:
            yield item
