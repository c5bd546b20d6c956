"""The error code of a botocore ClientError, the one part of an AWS failure safe to show or store."""

from __future__ import annotations


def error_code(exc: BaseException | None) -> str | None:
    """``Error.Code`` of a ClientError (at most 64 characters), None for anything else.

    The service's message may echo request values (names, keys), so only the code is kept.
    """
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None
    return str(response.get("Error", {}).get("Code", "Unknown"))[:64]
