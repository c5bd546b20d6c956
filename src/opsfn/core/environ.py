"""Cheap change detection for a fixed set of environment variables.

Settings and setting-named resources are cached until one of their variables changes. Checking
through ``os.environ.get`` costs about 2 us per variable (it encodes every key); reading the
mapping's underlying dict with pre-encoded keys costs a few nanoseconds, which keeps per-event
dispatch cheap. Other platforms fall back to ``os.environ.get``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

_RAW: Any = getattr(os.environ, "_data", None)
_ENCODE: Any = getattr(os.environ, "encodekey", None)


class EnvWatch:
    """Snapshots of a fixed tuple of variables, for comparison only."""

    def __init__(self, names: Iterable[str]) -> None:
        self.names = tuple(names)
        fast = isinstance(_RAW, dict) and callable(_ENCODE)
        self._keys = tuple(_ENCODE(name) for name in self.names) if fast else None

    def snapshot(self) -> tuple[Any, ...]:
        """Opaque values that differ whenever any of the variables changed."""
        if self._keys is not None:
            return tuple(map(_RAW.get, self._keys))
        return tuple(map(os.environ.get, self.names))
