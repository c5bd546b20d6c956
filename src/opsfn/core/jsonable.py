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


def _default(value: Any) -> Any:
    import pydantic_core

    return pydantic_core.to_jsonable_python(value, by_alias=True, fallback=str)


def dumps(value: Any) -> str:
    """Compact JSON text of ``value``: pydantic's encoder once loaded, the standard one before.

    The text is always encodable as UTF-8: strings holding lone surrogates (which a JSON
    ``"\\ud800"`` escape in an event decodes to) are written as escapes instead.
    """
    core = sys.modules.get("pydantic_core")
    if core is not None:
        try:
            text: str = core.to_json(value, by_alias=True, fallback=str).decode("utf-8")
            return text
        except ValueError:  # a lone surrogate: UTF-8 cannot carry it, an ASCII escape can
            return json.dumps(value, separators=(",", ":"), default=_default)
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_default)
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value, separators=(",", ":"), default=_default)
    return text


def dumps_bytes(value: Any) -> bytes:
    """:func:`dumps` as UTF-8 bytes, straight from pydantic's encoder when it is loaded."""
    core = sys.modules.get("pydantic_core")
    if core is not None:
        try:
            encoded: bytes = core.to_json(value, by_alias=True, fallback=str)
            return encoded
        except ValueError:  # a lone surrogate: see dumps
            pass
    return dumps(value).encode("utf-8")
