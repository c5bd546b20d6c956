"""The helper every settings section uses: a field whose alias is its environment variable."""

from __future__ import annotations

from typing import Any

from pydantic import Field

MiB = 1024 * 1024


def env_field(env: str, description: str, default: Any = None, **kwargs: Any) -> Any:
    """A settings field read from ``env``; ``description`` feeds the README table."""
    return Field(default=default, alias=env, description=description, **kwargs)
