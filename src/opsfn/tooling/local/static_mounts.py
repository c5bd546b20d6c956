"""``opsfn local --static DIR[:PATH]``: a user's own front end served by the stack (same origin as
the API, so a page can call it without CORS).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote


@dataclass(frozen=True, slots=True)
class StaticMount:
    """Files of ``directory`` served under the URL path ``prefix``."""

    directory: Path
    prefix: str = "/"

    def find(self, url_path: str) -> Path | None:
        """The file for ``url_path`` (``index.html`` for a directory), never outside the mount."""
        prefix = self.prefix.rstrip("/")
        if url_path != prefix and not url_path.startswith(prefix + "/"):
            return None
        relative = unquote(url_path[len(prefix):]).lstrip("/")
        root = self.directory.resolve()
        candidate = (root / relative).resolve()
        if not candidate.is_relative_to(root):
            return None
        if candidate.is_dir():
            candidate = candidate / "index.html"
        return candidate if candidate.is_file() else None


def parse_mount(value: str) -> StaticMount:
    """``DIR`` or ``DIR:PATH`` (PATH starts with ``/``; default ``/``)."""
    directory, sep, prefix = value.rpartition(":")
    if not sep or not prefix.startswith("/"):
        directory, prefix = value, "/"
    path = Path(directory).expanduser()
    if not path.is_dir():
        raise ValueError(f"--static {value}: {path} is not a directory")
    return StaticMount(path, "/" + prefix.strip("/") if prefix != "/" else "/")


def find_file(mounts: list[StaticMount], url_path: str) -> Path | None:
    """The file the longest matching mount serves for ``url_path``."""
    for mount in sorted(mounts, key=lambda m: len(m.prefix), reverse=True):
        found = mount.find(url_path)
        if found is not None:
            return found
    return None
