"""Credentials that carry only what the running route declared.

One function holds the grants of every route, so a logic error or a confused deputy in one route
could otherwise reach another domain's resources. When ``OPSFN_ROUTES_ROLE_ARN`` names the role
holding the routes' grants, each route's AWS calls use a session of that role whose session policy
is the route's ``access=`` declarations (:mod:`opsfn.core.session_policy`): IAM allows a call only
where the role's policies and the session policy both allow it. The function's own role may do
little more than assume the routes role.

Sessions are kept per route until :data:`RENEW_MARGIN_S` before they expire, so a route costs one
``sts:AssumeRole`` per process and hour, and a client taken during an invocation outlives it. The
call is made without the SDK while the SDK is not loaded (a cold start of a lean route).

``OPSFN_SCOPED_CREDENTIALS=off`` gives every route one shared session of the routes role with no
session policy; with no routes role set, routes use the function's own credentials.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opsfn.core import session_policy
from opsfn.core.access_check import current_route, enter_route, leave_route
from opsfn.core.groups import domain_of
from opsfn.core.observability import get_logger
from opsfn.core.settings import core_settings
from opsfn.errors import MissingSetting
from opsfn.services import aws, lean
from opsfn.services.lean import Credentials

if TYPE_CHECKING:
    from opsfn.core.router import Route

__all__ = ["RENEW_MARGIN_S", "Session", "assumed_count", "current", "current_session", "reset",
           "session_for"]

DURATION_S = 3600
"""A session's lifetime: the most STS gives a role assumed with a role's credentials."""
RENEW_MARGIN_S = 16 * 60
"""A session is renewed when less than this is left: more than the longest invocation (15 min)."""
_SHARED = "*"


@dataclass(frozen=True, slots=True)
class Session:
    """One route's credentials and when they expire (seconds since the epoch)."""

    credentials: Credentials
    expires: float

    def left(self, now: float) -> float:
        return self.expires - now


_sessions: dict[tuple[str, Any], Session] = {}
_lock = threading.Lock()
_counts = {"assumed": 0}


def reset() -> None:
    """Forget every session (tests switch roles and endpoints)."""
    with _lock:
        _sessions.clear()


def assumed_count() -> int:
    """How many sessions this process has asked STS for (benchmarks and tests read it)."""
    return _counts["assumed"]


def current(valid_for: float = 0) -> Credentials | None:
    """The running route's credentials, or None when the route runs on the function's own.

    ``valid_for``: seconds the credentials must still hold (a presigned URL's lifetime).
    """
    found = current_session(valid_for)
    return None if found is None else found.credentials


def current_session(valid_for: float = 0) -> Session | None:
    """The running route's session (see :func:`current`)."""
    route = current_route()
    if route is None:
        return None
    settings = core_settings()
    role = settings.routes_role_arn
    if not role:
        return None
    return session_for(route, role, settings.scoped_credentials == "on", valid_for)


def session_for(route: Route, role: str, narrowed: bool, valid_for: float = 0) -> Session:
    """The route's session of ``role``: cached, renewed when too little of it is left."""
    key = (role, (route.label, route.access) if narrowed else _SHARED)
    # A session lasts an hour at most (a role assumed with a role's credentials): a URL asking
    # for nearly that long gets a fresh session, not one per call, and ends with it.
    need = min(max(RENEW_MARGIN_S, valid_for + 60), DURATION_S - 120)
    found = _sessions.get(key)
    if found is not None and found.left(time.time()) > need:
        return found
    with _lock:
        found = _sessions.get(key)
        if found is None or found.left(time.time()) <= need:
            found = _sessions[key] = _assume(route, role, narrowed)
    return found


def _request(route: Route, role: str, narrowed: bool) -> dict[str, str]:
    """The AssumeRole parameters: the route's policy inline (exact, else coarse), or its
    domain's managed policy when even the coarse one is longer than STS takes."""
    request = {"RoleArn": role, "DurationSeconds": str(DURATION_S),
               "RoleSessionName": session_policy.session_name(route.label if narrowed else "routes")}
    if not narrowed:
        return request
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    resolver = session_policy.runtime_resolver(os.environ, role, region)
    grants = session_policy.session_grants(route.access)
    for coarse in (False, True):
        text = session_policy.text(grants, resolver, coarse=coarse)
        if len(text) <= session_policy.MAX_INLINE:
            return {**request, "Policy": text}
    domain = domain_of(route)
    managed = dict(part.strip().split("=", 1) for part in
                   (core_settings().session_policies or "").split(",") if "=" in part)
    if domain not in managed:
        get_logger().error("session policy too long for STS and no managed policy for it",
                           extra={"route": route.label, "domain": domain,
                                  "policy_chars": len(text), "most": session_policy.MAX_INLINE})
        raise MissingSetting("OPSFN_SESSION_POLICIES")
    policy = managed[domain]
    if not policy.startswith("arn:"):  # a name: the template keeps the environment short
        pseudo = session_policy.pseudo_of(role, region)
        policy = f"arn:{pseudo['partition']}:iam::{pseudo['account']}:policy/{policy}"
    return {**request, "PolicyArns.member.1.arn": policy}


def _assume(route: Route, role: str, narrowed: bool) -> Session:
    """Ask STS, with the function's own credentials, outside the route's access check."""
    request = _request(route, role, narrowed)
    token = enter_route(None)  # the framework's call, declared by the deployment, not the route
    try:
        answer = _lean(request)
        if answer is None:
            answer = _sdk(request)
    finally:
        leave_route(token)
    _counts["assumed"] += 1
    expires = dt.datetime.fromisoformat(answer["Expiration"].replace("Z", "+00:00"))
    return Session(Credentials(answer["AccessKeyId"], answer["SecretAccessKey"],
                               answer["SessionToken"]), expires.timestamp())


def _lean(request: dict[str, str]) -> dict[str, str] | None:
    where = lean.target("sts", own=True)
    if where is None:
        return None
    answer = lean.assume_role(request, where)
    return None if isinstance(answer, lean.UseSdk) else answer


def _sdk(request: dict[str, str]) -> dict[str, str]:
    arns = [value for name, value in request.items() if name.startswith("PolicyArns.")]
    params: dict[str, Any] = {name: value for name, value in request.items()
                              if not name.startswith("PolicyArns.")}
    params["DurationSeconds"] = int(params["DurationSeconds"])
    if arns:
        params["PolicyArns"] = [{"arn": arn} for arn in arns]
    found = aws.client("sts").assume_role(**params)["Credentials"]
    expiration = found["Expiration"]
    return {"AccessKeyId": found["AccessKeyId"], "SecretAccessKey": found["SecretAccessKey"],
            "SessionToken": found["SessionToken"],
            "Expiration": expiration.isoformat() if isinstance(expiration, dt.datetime)
            else str(expiration)}
