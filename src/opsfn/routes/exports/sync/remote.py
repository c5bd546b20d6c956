"""The remote side: a streamed listing, and the manifest that makes a no-change sync one GET.

The manifest is a gzip of JSON lines ``[rel, size, mtime_ns, mode]`` (or ``[rel, size, null,
null, last_modified_ns]`` for objects only known from a listing), sorted by key. It is read as a
stream and written to a temporary file, so neither side is ever held in memory.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tempfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from opsfn.errors import InvalidContent, UpstreamError
from opsfn.routes.exports.sync.model import RemoteEntry
from opsfn.services import lean as lean_calls


@dataclass(frozen=True, slots=True)
class Target:
    """Where one sync writes: bucket, key prefix, and whether it covers subdirectories."""

    bucket: str
    prefix: str
    recursive: bool = True

    @property
    def lock_id(self) -> str:
        """The lock that keeps two syncs of this target apart."""
        return f"sync:{self.bucket}/{self.prefix}{'' if self.recursive else '#top'}"

    def state_dir(self, state_prefix: str) -> str:
        """Key prefix of this target's manifest and partial segments."""
        digest = hashlib.sha256(self.lock_id.encode()).hexdigest()[:32]
        return f"{state_prefix.rstrip('/')}/{digest}/"


def normalise_prefix(prefix: str) -> str:
    """``a/b`` -> ``a/b/``; empty stays empty; leading slashes dropped."""
    prefix = prefix.lstrip("/")
    return prefix if not prefix or prefix.endswith("/") else prefix + "/"


def encode_line(entry: RemoteEntry) -> str:
    """One manifest line."""
    if entry.mtime_ns is not None:
        row: list[Any] = [entry.rel, entry.size, entry.mtime_ns, entry.mode]
    else:
        row = [entry.rel, entry.size, None, None, entry.last_modified_ns]
    return json.dumps(row, separators=(",", ":")) + "\n"


def decode_line(line: str) -> RemoteEntry:
    """Parse one manifest line (InvalidContent when it is not one)."""
    try:
        row = json.loads(line)
        rel, size = str(row[0]), int(row[1])
        mtime = None if row[2] is None else int(row[2])
        mode = None if row[3] is None else int(row[3])
        last = int(row[4]) if len(row) > 4 and row[4] is not None else None
    except (ValueError, TypeError, IndexError, KeyError):
        raise InvalidContent("the sync manifest is corrupt; rerun with compare=listing") from None
    return RemoteEntry(rel, size, mtime, mode, last)


def read_manifest(stream: IO[bytes], resume_after: str | None) -> Iterator[RemoteEntry]:
    """Entries of a gzip manifest stream in order, after ``resume_after``.

    A stream that is not gzip of UTF-8 is a corrupt manifest; a read that breaks off (a reset,
    a timeout, a short body) is an upstream failure, whichever HTTP stack carried it.
    """
    previous = ""
    try:
        with gzip.GzipFile(fileobj=stream) as unzipped:
            for raw in io.TextIOWrapper(unzipped, encoding="utf-8"):
                entry = decode_line(raw)
                if entry.rel <= previous and previous:
                    raise InvalidContent("the sync manifest is out of order; rerun with "
                                         "compare=listing")
                previous = entry.rel
                if resume_after is not None and entry.rel <= resume_after:
                    continue
                yield entry
    except (EOFError, UnicodeDecodeError, gzip.BadGzipFile, zlib.error):
        raise InvalidContent("the sync manifest is corrupt; rerun with compare=listing") from None
    except OSError as exc:
        raise UpstreamError(f"reading the sync manifest failed: {type(exc).__name__}") from None
    except Exception as exc:
        if type(exc).__module__ in ("http.client", "urllib3.exceptions", "botocore.exceptions"):
            raise UpstreamError(f"reading the sync manifest failed: {type(exc).__name__}"
                                ) from None
        raise


def open_manifest(client: Callable[[], Any], bucket: str, key: str, *, lean: bool = False
                  ) -> IO[bytes] | None:
    """The manifest's body stream, or None when there is none yet.

    ``client`` makes the S3 client; with ``lean`` a plain signed GET is tried first, so a sync
    that finds nothing to do may never build one (:func:`opsfn.services.lean.get_object`).
    """
    if lean:
        answer = lean_calls.get_object(bucket, key)  # its module loads on this first use
        if not isinstance(answer, lean_calls.UseSdk):
            return answer
    return _sdk_get(client(), bucket, key)


def _sdk_get(client: Any, bucket: str, key: str) -> IO[bytes] | None:
    try:
        reply = client.get_object(Bucket=bucket, Key=key)
    except client.exceptions.NoSuchKey:
        return None
    body: IO[bytes] = reply["Body"]
    return body


def list_remote(client: Any, target: Target, resume_after: str | None, skip_prefix: str
                ) -> Iterator[RemoteEntry]:
    """Objects under the target prefix from ListObjectsV2, streamed page by page."""
    params: dict[str, Any] = {"Bucket": target.bucket, "Prefix": target.prefix}
    if not target.recursive:
        params["Delimiter"] = "/"
    if resume_after is not None:
        params["StartAfter"] = target.prefix + resume_after
    cut = len(target.prefix)
    for page in client.get_paginator("list_objects_v2").paginate(**params):
        for obj in page.get("Contents", []):
            key = obj["Key"]
            if key.endswith("/") or (skip_prefix and key.startswith(skip_prefix)):
                continue
            modified = int(obj["LastModified"].timestamp() * 1_000_000_000)
            yield RemoteEntry(key[cut:], int(obj["Size"]), last_modified_ns=modified)


class ManifestWriter:
    """New manifest lines, gzipped into a temporary file as entries complete (in key order)."""

    def __init__(self) -> None:
        self.file = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()
        self._zip = gzip.GzipFile(fileobj=self.file, mode="wb", compresslevel=5)
        self.count = 0

    def write(self, entry: RemoteEntry) -> None:
        """Append one entry."""
        self._zip.write(encode_line(entry).encode("utf-8"))
        self.count += 1

    def copy_from(self, stream: IO[bytes]) -> None:
        """Append every line of another gzip manifest (a segment of an earlier invocation)."""
        with gzip.GzipFile(fileobj=stream) as unzipped:
            while chunk := unzipped.read(1 << 20):
                self._zip.write(chunk)

    def finish(self) -> IO[bytes]:
        """Close the gzip stream; the file is rewound for upload."""
        self._zip.close()
        self.file.seek(0)
        return self.file

    def close(self) -> None:
        """Drop the temporary file."""
        self.file.close()
