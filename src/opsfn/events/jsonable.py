"""Make a route's result JSON-safe, importing pydantic's serializer only when it is needed.

Plain JSON values (dicts, lists, strings, numbers, booleans, None) pass through untouched, which
is what light routes return; models, dataclasses, datetimes and the like go through
``pydantic_core.to_jsonable_python``.
"""

from __future__ import annotations

import json
import sys
from typing import Any

_SCALARS = (str, int, float, bool, type(None))


def _plain(value: Any, depth: int = 0) -> bool:
    if isinstance(value, _SCALARS):
        return True
    if depth > 32:
        return False
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v, depth + 1) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain(item, depth + 1) for item in value)
    return False


def to_jsonable(value: Any) -> Any:
    """``value`` as plain JSON data (aliases used for models)."""
    core: Any = sys.modules.get("pydantic_core")
    if core is None:
        if _plain(value):
            return value
        import pydantic_core as core
    return core.to_jsonable_python(value, by_alias=True, fallback=str)


def _encoder(value: Any) -> Any:
    """pydantic_core when it is loaded or ``value`` needs it, else None (the standard library).

    Both give the same JSON for plain values (string keys, JSON leaves), so a reply does not
    depend on whether some earlier route happened to import pydantic.
    """
    core = sys.modules.get("pydantic_core")
    if core is None and not _plain(value):
        import pydantic_core as core
    return core


def _escaped(value: Any) -> str:
    """ASCII JSON: a lone surrogate (from a ``"\\ud800"`` escape in an event) cannot be UTF-8."""
    return json.dumps(to_jsonable(value), separators=(",", ":"))


def dumps(value: Any) -> str:
    """Compact JSON text of ``value``, always encodable as UTF-8."""
    core = _encoder(value)
    if core is None:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        if text.isascii():
            return text
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return _escaped(value)
        return text
    try:
        encoded: bytes = core.to_json(value, by_alias=True, fallback=str)
    except ValueError:  # a lone surrogate
        return _escaped(value)
    return encoded.decode("utf-8")


def dumps_bytes(value: Any) -> bytes:
    """:func:`dumps` as UTF-8 bytes, straight from pydantic's encoder when it is used."""
    core = _encoder(value)
    if core is not None:
        try:
            encoded: bytes = core.to_json(value, by_alias=True, fallback=str)
            return encoded
        except ValueError:  # a lone surrogate: see dumps
            pass
    return dumps(value).encode("utf-8")
