"""AWS failures as opsfn errors: the one place that reads a botocore error.

Only the service's error code is kept: its message may echo request values (names, keys).
"""

from __future__ import annotations

from opsfn.errors import OpsfnError, UpstreamError

# Codes that describe the request itself: retrying the same event cannot succeed.
PERMANENT_CODES = frozenset({"AccessDenied", "AccessDeniedException", "ValidationException"})


def error_code(exc: BaseException | None) -> str | None:
    """``Error.Code`` of a ClientError (at most 64 characters), None for anything else."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None
    return str(response.get("Error", {}).get("Code", "Unknown"))[:64]


def from_aws_error(exc: BaseException) -> OpsfnError | None:
    """The typed error for a botocore failure, or None when ``exc`` is not one."""
    code = error_code(exc)
    operation = getattr(exc, "operation_name", None)
    if code is not None and isinstance(operation, str):
        error = UpstreamError(f"AWS {operation} failed: {code}")
        error.permanent = code in PERMANENT_CODES
        return error
    if type(exc).__module__.startswith(("botocore", "urllib3")):
        return UpstreamError(f"AWS call failed: {type(exc).__name__}")
    return None
