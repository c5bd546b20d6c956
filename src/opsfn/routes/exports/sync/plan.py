"""The sync plan: a merge of the local walk and the remote entries, both in key order.

Pure: no I/O, so every rule (what counts as changed, what may be deleted) is tested directly.
Memory is constant: one pending item from each side.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from opsfn.routes.exports.sync.model import Ignored, LocalEntry, LocalFile, RemoteEntry, Step


def unchanged(local: LocalFile, remote: RemoteEntry) -> bool:
    """Whether the object already holds this file.

    A manifest entry records the exact size, mtime and mode uploaded. A listing only has the size
    and the upload time: the file is current when it was not modified after the upload.
    """
    if remote.size != local.size:
        return False
    if remote.mtime_ns is not None:
        return remote.mtime_ns == local.mtime_ns and remote.mode in (None, local.mode)
    if remote.last_modified_ns is not None:
        return local.mtime_ns <= remote.last_modified_ns
    return False


def _local_step(item: LocalEntry, remote: RemoteEntry | None) -> Step:
    if isinstance(item, LocalFile):
        if remote is not None and unchanged(item, remote):
            return Step("skip", item.rel, item, remote)
        return Step("upload", item.rel, item, remote)
    if isinstance(item, Ignored):
        return Step("ignore", item.rel, None, remote)
    return Step("fail", item.rel, None, remote)


def plan(local: Iterable[LocalEntry], remote: Iterable[RemoteEntry], *, delete: bool) -> Iterator[Step]:
    """Steps in key order: upload, skip, delete or keep each key; ignore/fail odd local entries.

    A remote entry is deleted only when ``delete`` is set, no local file has its key, and it is
    not below a directory that could not be read (its files may well still exist).
    """
    local_it, remote_it = iter(local), iter(remote)
    loc = next(local_it, None)
    rem = next(remote_it, None)
    protected: str | None = None
    while loc is not None or rem is not None:
        if rem is not None and (loc is None or rem.rel < loc.rel):
            keep = not delete or (protected is not None and rem.rel.startswith(protected))
            yield Step("keep" if keep else "delete", rem.rel, None, rem)
            rem = next(remote_it, None)
            continue
        assert loc is not None
        if rem is not None and rem.rel == loc.rel:
            yield _local_step(loc, rem)
            rem = next(remote_it, None)
        else:
            if loc.rel.endswith("/"):
                protected = loc.rel  # an unreadable directory: its remote subtree follows
            yield _local_step(loc, None)
        loc = next(local_it, None)
