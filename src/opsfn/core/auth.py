"""Who called: the authorizer context API Gateway, a Function URL or an ALB put in the event.

The template puts an authorizer in front of every non-public route; this is the second check, for
a Function URL with ``AuthType: NONE`` or an API wired by hand. Only API Gateway and Lambda write
``requestContext``, so a caller cannot forge it. Each source shapes it differently:

=================  =========================================  ============================
source             JWT authorizer                             IAM (SigV4)
=================  =========================================  ============================
HTTP API (v2)      ``authorizer.jwt.claims``                  ``authorizer.iam.userArn``
Function URL       (none)                                     ``authorizer.iam.userArn``
REST API (v1)      ``authorizer.claims`` (Cognito user pool)  ``identity.userArn``
ALB                (none: only public routes)                 (none)
=================  =========================================  ============================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from opsfn.errors import Unauthorized

CallerKind = Literal["jwt", "iam"]


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated caller: a JWT's subject or an IAM principal's ARN."""

    kind: CallerKind
    identity: str


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _jwt_caller(claims: Any) -> Caller | None:
    claims = _mapping(claims)
    subject = _text(claims.get("sub")) or _text(claims.get("username"))
    return Caller("jwt", subject) if subject else None


def caller_of(kind: str, event: dict[str, Any]) -> Caller | None:
    """The caller the event's authorizer context names, or None when there is none."""
    context = _mapping(event.get("requestContext"))
    authorizer = _mapping(context.get("authorizer"))
    if kind in ("http_v2", "function_url"):
        jwt = _jwt_caller(_mapping(authorizer.get("jwt")).get("claims"))
        if jwt is not None:
            return jwt
        arn = _text(_mapping(authorizer.get("iam")).get("userArn"))
        return Caller("iam", arn) if arn else None
    if kind == "http_v1":
        jwt = _jwt_caller(authorizer.get("claims"))
        if jwt is not None:
            return jwt
        arn = _text(_mapping(context.get("identity")).get("userArn"))
        return Caller("iam", arn) if arn else None
    return None  # an ALB carries no authorizer context


def authorize(required: str, kind: str, event: dict[str, Any], default: str | None) -> Caller | None:
    """The caller of a route that requires ``required``; :class:`Unauthorized` when there is none.

    ``default`` is the deployment's default authorizer (``iam`` or ``jwt``) for routes declared
    ``default``; unset, any authenticated caller passes.
    """
    if required == "public":
        return caller_of(kind, event)
    caller = caller_of(kind, event)
    wanted = default if required == "default" else required
    if caller is None or (wanted is not None and caller.kind != wanted):
        raise Unauthorized
    return caller
