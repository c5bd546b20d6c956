"""Plain records the sync passes around: local files, remote entries, plan steps, counters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True)
class LocalFile:
    """A regular file (or a symlink to one inside the root) found by the walk."""

    rel: str
    path: str
    size: int
    mtime_ns: int
    mode: int


@dataclass(frozen=True, slots=True)
class Ignored:
    """An entry the sync never copies: a symlink leaving the root, a directory link, a device."""

    rel: str
    reason: str


@dataclass(frozen=True, slots=True)
class Unreadable:
    """An entry that could not be read; a directory's remote copies are kept untouched."""

    rel: str
    is_dir: bool


LocalEntry = LocalFile | Ignored | Unreadable


@dataclass(frozen=True, slots=True)
class RemoteEntry:
    """What is known of one object: from a manifest (size, mtime, mode) or a listing (size, time)."""

    rel: str
    size: int
    mtime_ns: int | None = None
    mode: int | None = None
    last_modified_ns: int | None = None


StepKind = Literal["upload", "skip", "delete", "keep", "ignore", "fail"]


@dataclass(frozen=True, slots=True)
class Step:
    """One decision of the plan, in key order."""

    kind: StepKind
    rel: str
    local: LocalFile | None = None
    remote: RemoteEntry | None = None


@dataclass(slots=True)
class Counters:
    """The summary every reply and the CLI show."""

    scanned: int = 0
    uploaded: int = 0
    skipped: int = 0
    deleted: int = 0
    failed: int = 0
    bytes: int = 0
    seconds: float = 0.0

    def add(self, other: dict[str, float]) -> None:
        """Fold in the totals of earlier invocations of the same run."""
        self.scanned += int(other.get("scanned", 0))
        self.uploaded += int(other.get("uploaded", 0))
        self.skipped += int(other.get("skipped", 0))
        self.deleted += int(other.get("deleted", 0))
        self.failed += int(other.get("failed", 0))
        self.bytes += int(other.get("bytes", 0))
        self.seconds += float(other.get("seconds", 0.0))

    def as_dict(self) -> dict[str, float]:
        """JSON-safe counters."""
        return {"scanned": self.scanned, "uploaded": self.uploaded, "skipped": self.skipped,
                "deleted": self.deleted, "failed": self.failed, "bytes": self.bytes,
                "seconds": round(self.seconds, 3)}


@dataclass(frozen=True, slots=True)
class UploadOptions:
    """How objects are written."""

    bucket: str
    kms_key_id: str | None = None
    concurrency: int = 16
    multipart_threshold: int = 16 * 1024 * 1024  # below two parts, one PutObject is cheaper
    multipart_chunk: int = 8 * 1024 * 1024
