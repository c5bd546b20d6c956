"""The upload request's rules as JSON Schema, so ``opsfn openapi`` states what the model enforces.

The validators in :mod:`uploads` check names and types in Python; these patterns say the same in
the regular-expression subset ECMA-262, Python's ``re`` and Rust's ``regex`` read alike (no
lookaround, no ``\\s``, whose meaning differs between them), built from the same constants.
Schemathesis checks the two agree, both ways, against the running stack.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

# What str.strip() removes: the validator strips the type before comparing it.
_SPACE = "".join(chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace())


def _class(chars: str) -> str:
    """A regex character class of ``chars``, as ranges of consecutive code points."""
    points = sorted({ord(c) for c in chars})
    parts: list[str] = []
    start = prev = points[0]
    for point in [*points[1:], -1]:
        if point == prev + 1:
            prev = point
            continue
        parts.append(f"\\u{start:04x}" if start == prev else f"\\u{start:04x}-\\u{prev:04x}")
        start = prev = point
    return "[" + "".join(parts) + "]"


SPACE = _class(_SPACE)


def caseless(text: str) -> str:
    """``text`` matched without regard to ASCII case (``(?i)`` is not ECMA-262)."""
    return "".join(f"[{c}{c.upper()}]" if c.isalpha() else "\\" + c if c in ".+" else c
                   for c in text)


def one_of(texts: Iterable[str]) -> str:
    """A caseless alternation of ``texts``."""
    return "(?:" + "|".join(caseless(t) for t in texts) + ")"


def file_type_pattern(types: Iterable[str], *, or_empty: bool = False) -> str:
    """A type the validator takes: one of ``types`` (or nothing), any case, surrounded by what
    strip() drops."""
    return f"^{SPACE}*{one_of(types)}{'?' if or_empty else ''}{SPACE}*$"


def file_name_patterns(control: str) -> list[dict[str, str]]:
    """A name: no character of the class ``control``, no path separator, no ``..``, not blank."""
    chunk = f"[^.{control[1:-1]}/\\\\]"
    return [{"pattern": f"^\\.?(?:{chunk}+\\.)*{chunk}*$"},  # no two dots in a row
            {"pattern": f"[^{SPACE[1:-1]}]"}]  # something strip() would keep


def utf8_length_choices(max_bytes: int) -> list[dict[str, Any]]:
    """Names within ``max_bytes`` as UTF-8, stated the only way JSON Schema can (it counts code
    points): as many characters as fit when all are as wide as the widest one present. Every
    name it admits fits; a long name mixing widths can fit without being admitted."""
    widest = ((1, "\\x00-\\x7f"), (2, "\\x00-\\u07ff"), (3, "\\x00-\\uffff"))
    return [*({"maxLength": max_bytes // width, "pattern": f"^[{chars}]*$"}
              for width, chars in widest),
            {"maxLength": max_bytes // 4}]


def suffix_pattern(suffixes: Iterable[str]) -> str:
    """A name ending in one of ``suffixes``, any case."""
    return f"{one_of(suffixes)}$"


def upload_request_schema(schema: dict[str, Any], *, allowed: Iterable[str],
                          generic: Iterable[str], dicom_suffixes: Iterable[str],
                          control: str, max_name: int, max_size: int | None) -> None:
    """Add the rules to pydantic's schema of the request (in place)."""
    props = schema["properties"]
    name = props["fileName"]
    name["maxLength"] = max_name
    name["allOf"] = file_name_patterns(control)
    name["anyOf"] = utf8_length_choices(max_name)
    name["description"] = (f"At most {max_name} bytes as UTF-8; no control character, path "
                           "separator or '..'; not blank. The key never uses it.")
    allowed = list(allowed)
    generic = list(generic)
    props["fileType"]["pattern"] = file_type_pattern([*allowed, *[g for g in generic if g]],
                                                    or_empty="" in generic)
    props["fileType"]["description"] = (
        "One of " + ", ".join(allowed) + " (any case, spaces around ignored); empty or "
        "application/octet-stream only when the name ends in " + " or ".join(dicom_suffixes))
    if max_size is not None:
        for choice in props["fileSize"].get("anyOf", [props["fileSize"]]):
            if choice.get("type") == "integer":
                choice["maximum"] = max_size
    # A generic or missing type needs a DICOM name (the validator then says application/dicom).
    schema["anyOf"] = [
        {"required": ["fileType"], "properties": {"fileType": {"pattern": file_type_pattern(allowed)}}},
        {"properties": {"fileName": {"pattern": suffix_pattern(dicom_suffixes)}}},
    ]
