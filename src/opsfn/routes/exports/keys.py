"""Key prefixes that callers choose: they start every object key an export writes.

A prefix is ``/``-separated names of letters, digits, spaces and ``._-+=@,()!~'``. That refuses
what would make a key read as a path to whoever restores it (``.`` and ``..`` segments, ``\\``, a
leading ``/``, ``C:``), control and format characters (NUL, newlines, the right-to-left override)
and Unicode look-alikes of separators and dots, none of which ``\\w`` matches.
"""

from __future__ import annotations

import re

MAX_PREFIX_BYTES = 512
_SEGMENT = re.compile(r"[\w.\-+=@,()!~' ]+")


def check_key_prefix(value: str | None) -> str | None:
    """``value`` unchanged when it is a plain key prefix; ValueError saying why otherwise."""
    if not value:
        return value
    if len(value.encode("utf-8", "surrogatepass")) > MAX_PREFIX_BYTES:
        raise ValueError(f"a prefix is at most {MAX_PREFIX_BYTES} bytes")
    if value.startswith("/"):
        raise ValueError("a prefix is relative to the bucket: no leading '/'")
    for segment in value.removesuffix("/").split("/"):
        if segment in ("", ".", "..") or not _SEGMENT.fullmatch(segment):
            raise ValueError("a prefix is '/'-separated names of letters, digits, spaces "
                             "and ._-+=@,()!~'")
    return value
