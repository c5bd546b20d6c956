"""Constraints on a text path or query parameter, checked without pydantic.

``Annotated[str, Text(...)]`` is validated by the binder with ``re`` and stated by
``opsfn openapi`` as the same JSON Schema: one declaration for both. A route browsers poll
(``GET /get-results``) stays off pydantic's import, about 100 ms of a cold start.
"""

from __future__ import annotations

import re
import typing
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Text:
    """A string's length bounds, a pattern it contains a match of (JSON Schema's ``pattern``:
    anchor it with ``^``; pin the end with the length, as ``$`` differs between engines) and
    the ``format`` the document names."""

    pattern: str | None = None
    min_length: int = 0
    max_length: int | None = None
    format: str | None = None

    def problem(self, value: str) -> tuple[str, str] | None:
        """(message, error type) of what ``value`` breaks, or None when it fits."""
        if len(value) < self.min_length:
            return f"must have at least {self.min_length} characters", "string_too_short"
        if self.max_length is not None and len(value) > self.max_length:
            return f"must have at most {self.max_length} characters", "string_too_long"
        if self.pattern is not None and re.search(self.pattern, value) is None:  # re caches it
            return "must match the pattern the document states", "string_pattern_mismatch"
        return None

    def json_schema(self) -> dict[str, Any]:
        """The same rules as JSON Schema."""
        schema: dict[str, Any] = {"type": "string"}
        if self.min_length:
            schema["minLength"] = self.min_length
        if self.max_length is not None:
            schema["maxLength"] = self.max_length
        if self.pattern is not None:
            schema["pattern"] = self.pattern
        if self.format is not None:
            schema["format"] = self.format
        return schema


def text_constraint(annotation: Any) -> Text | None:
    """The Text of ``Annotated[str, Text(...)]``, else None."""
    if typing.get_origin(annotation) is not typing.Annotated:
        return None
    base, *extras = typing.get_args(annotation)
    found = [extra for extra in extras if isinstance(extra, Text)]
    return found[0] if base is str and found else None
