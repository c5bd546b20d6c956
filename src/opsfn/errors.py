"""Typed errors: every failure opsfn reports is one of these, so callers can tell them apart.

Each error carries an HTTP status, a stable machine-readable ``code`` and a ``permanent`` flag.
Permanent errors describe the input itself (retrying the same event cannot succeed); the others
describe the world (a throttled API, a missing setting) and are worth a retry. Messages are written
for the caller: they never include event values, secrets or internal exception text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class OpsfnError(Exception):
    """Base of every error the framework raises or replies with."""

    status: int = 500
    code: str = "internal_error"
    permanent: bool = False

    def __init__(self, message: str, *, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []

    def log_fields(self) -> dict[str, Any]:
        """What a log line may say about this error: its code (never its message's values)."""
        return {"error": self.code}

    def to_dict(self) -> dict[str, Any]:
        """The JSON body a caller sees: code, message and optional field-level details."""
        body: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body


class UnsupportedEvent(OpsfnError):
    """The event is not a shape opsfn knows; the message names the top-level keys only."""

    status = 400
    code = "unsupported_event"
    permanent = True


class Unauthorized(OpsfnError):
    """A route that needs an authenticated caller was reached without one.

    The reply says only "unauthorized": which check failed is for the log, not the caller.
    """

    status = 401
    code = "unauthorized"
    permanent = True

    def __init__(self) -> None:
        super().__init__("unauthorized")


class NotFound(OpsfnError):
    """No route, action or item answers to what was asked."""

    status = 404
    code = "not_found"
    permanent = True


class MethodNotAllowed(OpsfnError):
    """The path exists but not for this HTTP method."""

    status = 405
    code = "method_not_allowed"
    permanent = True

    def __init__(self, message: str, *, allowed: list[str]) -> None:
        super().__init__(message)
        self.allowed = allowed


class NotExposed(OpsfnError):
    """A route exists but is not reachable from the source the event came from."""

    status = 403
    code = "not_exposed"
    permanent = True


class ValidationFailed(OpsfnError):
    """Input did not match the route's model; ``details`` lists field paths and reasons."""

    status = 400
    code = "validation_failed"
    permanent = True

    @classmethod
    def from_pydantic(cls, exc: Any, prefix: str) -> ValidationFailed:
        """A pydantic ``ValidationError`` as field paths under ``prefix`` (``body.at``) and
        reasons, as the binder reports a route's model; input values are never copied."""
        details = []
        for error in exc.errors(include_url=False, include_input=False, include_context=False):
            loc = ".".join([prefix, *(str(part) for part in error["loc"])])
            details.append({"loc": loc, "msg": error["msg"], "type": error["type"]})
        return cls(f"invalid {prefix}", details=details)


class PayloadTooLarge(OpsfnError):
    """A body or payload is larger than the configured limit."""

    status = 413
    code = "payload_too_large"
    permanent = True


class Conflict(OpsfnError):
    """The request clashes with work already under way (a lock is held, a state moved on)."""

    status = 409
    code = "conflict"
    permanent = False


class InvalidContent(OpsfnError):
    """The content itself is unusable (not an image, truncated, too large); retrying cannot help."""

    status = 422
    code = "invalid_content"
    permanent = True


class MissingSetting(OpsfnError):
    """A route needs an environment variable that is not set; the message names it."""

    status = 500
    code = "missing_setting"
    permanent = False

    def __init__(self, variable: str) -> None:
        super().__init__(f"setting {variable} is not configured")
        self.variable = variable

    def log_fields(self) -> dict[str, Any]:
        """The code and the variable to set."""
        return {"error": self.code, "settings": [self.variable]}


class InvalidSetting(OpsfnError):
    """An environment variable is set to a value of the wrong type or range."""

    code = "invalid_setting"

    def __init__(self, variables: list[str]) -> None:
        super().__init__(f"invalid value for setting(s): {', '.join(variables)}")
        self.variables = variables

    def log_fields(self) -> dict[str, Any]:
        """The code and the variables to fix."""
        return {"error": self.code, "settings": list(self.variables)}


class UpstreamError(OpsfnError):
    """An AWS (or other) service call failed; the message names the service and error code only."""

    status = 502
    code = "upstream_error"
    permanent = False


class DeadlineExceeded(OpsfnError):
    """Work stopped because the Lambda deadline was near; it can be resumed."""

    status = 504
    code = "deadline_exceeded"
    permanent = False


class RecordsFailed(OpsfnError):
    """Some records of an asynchronous event failed after every record was tried."""

    status = 500
    code = "records_failed"
    permanent = False
    codes: list[str]

    def __init__(self, failed: int, total: int, causes: Sequence[OpsfnError]) -> None:
        # A cause that is itself a RecordsFailed (an S3 event inside an SNS message) counts by
        # its own records, so one permanently bad object is not retried as if the world were
        # at fault. Each cause keeps the flag its error (or the AWS error table) gave it.
        self.codes = [code for cause in causes for code in (
            cause.codes if isinstance(cause, RecordsFailed) else [cause.code])]
        unique = ", ".join(sorted(set(self.codes)))
        super().__init__(f"{failed} of {total} records failed ({unique})")
        self.failed = failed
        self.total = total
        self.permanent = bool(causes) and all(cause.permanent for cause in causes)


class UndeclaredAccess(OpsfnError):
    """A route made an AWS call its ``access=`` does not declare (``OPSFN_ACCESS_CHECK=deny``).

    The deployment's role is made from the declarations, so the same call would be refused by
    IAM: the route's declaration is what needs fixing, not the input.
    """

    status = 500
    code = "undeclared_access"
    permanent = True


class InternalError(OpsfnError):
    """A route raised something unexpected; the reply stays generic and the log names the type."""

