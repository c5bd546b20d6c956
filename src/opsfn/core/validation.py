"""Typed path and query parameters, parsed by pydantic.

The one part of binding that imports pydantic, and only when a route has a parameter that is
neither text nor a model (``limit: int``, ``since: datetime``): a route whose inputs are text
(``GET /get-results``) or an action without models never loads pydantic.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import TypeAdapter, ValidationError

from opsfn.errors import ValidationFailed


def string_parser(annotation: Any) -> Callable[[str, str], Any]:
    """A parser of one raw string into ``annotation``; its failure names the field ``loc``."""
    adapter: TypeAdapter[Any] = TypeAdapter(annotation)

    def parse(raw: str, loc: str) -> Any:
        try:
            return adapter.validate_strings(raw)
        except ValidationError as exc:
            raise ValidationFailed.from_pydantic(exc, loc) from None

    return parse
