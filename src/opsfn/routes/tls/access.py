"""Permissions on the TLS directory: say which directory, which access and which uid.

A function that cannot write the directories an older process made (root-owned, 0755, as the
OpenEMR stack's certificate task leaves them) gets ``EACCES`` from the file system. This module
turns that into :class:`FileAccessDenied`, whose message names the path, the access that was
needed, the owner and mode found there, and the identity the function runs as: its process
uid/gid and, when the template passed them, the uid/gid the EFS access point enforces (on EFS that
is the identity the file system checks, whatever the process uid is).

It also keeps private keys private: a key that group or others may read (``openssl genrsa >
file`` under umask 022 makes 0644) is set to 0600 when the function may change it, and reported
otherwise.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from opsfn.errors import OpsfnError
from opsfn.routes.tls.settings import TlsSettings

Need = Literal["read", "write"]
_NEEDS: dict[Need, tuple[int, str]] = {
    "read": (os.R_OK | os.X_OK, "read and search (r-x)"),
    "write": (os.W_OK | os.X_OK, "write and search (-wx)"),
}
KEY_MODE = 0o600


class FileAccessDenied(OpsfnError):
    """The file system refused an access the TLS materials need; fixing permissions fixes it."""

    status = 500
    code = "file_access_denied"
    permanent = False


@dataclass(frozen=True, slots=True)
class Identity:
    """Who the function is: on the process, and on the file system when an access point says."""

    uid: int
    gid: int
    access_point_uid: int | None
    access_point_gid: int | None

    def describe(self) -> str:
        text = f"the function runs as uid {self.uid} gid {self.gid}"
        if self.access_point_uid is not None:
            gid = "" if self.access_point_gid is None else f" gid {self.access_point_gid}"
            text += f" and the EFS access point makes it uid {self.access_point_uid}{gid}"
        return text

    @property
    def file_system_uid(self) -> int:
        """The uid the file system checks: the access point's when known, else the process's."""
        return self.uid if self.access_point_uid is None else self.access_point_uid


def identity() -> Identity:
    """The current identity (process ids, and the access point's from the settings)."""
    settings = TlsSettings.current()
    return Identity(os.geteuid(), os.getegid(), settings.ssl_access_point_uid,
                    settings.ssl_access_point_gid)


def _found(path: Path) -> str:
    """Owner and mode of ``path`` (or of the nearest parent that can be examined)."""
    for candidate in (path, *path.parents):
        try:
            info = candidate.lstat()
        except OSError:
            continue
        where = "" if candidate == path else f" (nearest existing: {candidate})"
        return (f"owner uid {info.st_uid} gid {info.st_gid}, mode "
                f"{stat.S_IMODE(info.st_mode):04o}{where}")
    return "not examinable"


def denied(path: Path, need: Need, *more: Path) -> FileAccessDenied:
    """The error for a refused ``need`` on ``path`` (a directory, or a file to read) and on
    any ``more`` directories refused the same access."""
    access = _NEEDS[need][1] if path.is_dir() or need == "write" else "read (r--)"
    paths = (path, *more)
    found = "; ".join(f"{p}: {_found(p)}" for p in paths) if more else _found(path)
    return FileAccessDenied(
        f"permission denied on {', '.join(str(p) for p in paths)}: needs {access}; "
        f"{identity().describe()}; found {found}"
    )


def require(need: Need, *directories: Path) -> None:
    """Refuse early (before a lock or a partial write) when a directory lacks ``need``; every
    refused directory is named at once."""
    mode, _ = _NEEDS[need]
    refused = [d for d in directories if d.is_dir() and not os.access(d, mode)]
    if refused:
        raise denied(refused[0], need, *refused[1:])


@contextlib.contextmanager
def translated(path: Path, need: Need) -> Iterator[None]:
    """Turn a PermissionError inside the block into :class:`FileAccessDenied` for ``path``."""
    try:
        yield
    except PermissionError:
        raise denied(path, need) from None


@dataclass(frozen=True, slots=True)
class KeyMode:
    """A private key others could read, and whether it was made 0600."""

    path: str
    mode: str
    owner_uid: int
    fixed: bool
    problem: str | None = None


def secure_key(path: Path) -> KeyMode | None:
    """Make a group/world-readable key 0600 when allowed; None when it needed nothing.

    Symlinks are left alone (the container's own ``webserver.key.pem`` is a link to the key,
    which is checked itself). ``chmod`` is tried rather than predicted from uids: on EFS the
    server decides, with the access point's identity.
    """
    try:
        info = path.lstat()
    except FileNotFoundError:
        return None
    except PermissionError:
        raise denied(path.parent, "read") from None
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISREG(info.st_mode):
        return None
    mode = stat.S_IMODE(info.st_mode)
    if not mode & 0o077:
        return None
    try:
        path.chmod(KEY_MODE)
    except PermissionError:
        return KeyMode(str(path), f"{mode:04o}", info.st_uid, fixed=False, problem=(
            f"readable by {'others' if mode & 0o004 else 'its group'} and not changeable: "
            f"owned by uid {info.st_uid}; {identity().describe()}"))
    return KeyMode(str(path), f"{mode:04o}", info.st_uid, fixed=True)
