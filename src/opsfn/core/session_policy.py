"""The session policy of one route: its ``access=`` declarations as IAM would read them.

A route's AWS calls go out with credentials of the routes role narrowed by this policy, so a
route can reach only what it declared even though the role holds every route's grants. The text
is what ``sts:AssumeRole`` takes as ``Policy``: compact JSON, no statement names, at most
:data:`MAX_INLINE` characters. A route whose declarations need more is given a managed policy by
the template generator (:func:`needs_managed_policy` decides which, from the declarations alone,
so the generator and the running function agree).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from opsfn.core.access import Grant
from opsfn.core.access_policy import Resolver, statements

MAX_INLINE = 2048
"""The most plain-text characters STS takes in an inline session policy."""

_SESSION_NAME = re.compile(r"[^\w+=,.@-]+")
_ROLE_ARN = re.compile(r"^arn:(?P<partition>[a-z-]+):iam::(?P<account>\d{12}):role/.+$")
# The longest value each kind of setting plausibly holds in a deployment: CloudFormation's
# generated names (stack, logical id, 13 random characters) or an ARN of one.
_ESTIMATE_VALUE = "x" * 96
_ESTIMATE_PSEUDO = {"partition": "aws-us-gov", "region": "ap-southeast-4", "account": "0" * 12}
_ESTIMATE_HEADROOM = 0.8


def session_name(label: str) -> str:
    """A ``RoleSessionName`` that says which route holds the session (CloudTrail shows it)."""
    cleaned = _SESSION_NAME.sub("-", label).strip("-") or "route"
    return f"opsfn-{cleaned}"[:64]


def document(grants: tuple[Grant, ...], resolver: Resolver) -> dict[str, Any]:
    """The policy document of ``grants``, statement names dropped (they only cost characters)."""
    found = statements(grants, resolver)
    for statement in found:
        statement.pop("Sid", None)
    if not found:
        # Nothing declared (or every feature it serves is off): a policy that allows nothing.
        found = [{"Effect": "Deny", "Action": "*", "Resource": "*"}]
    return {"Version": "2012-10-17", "Statement": found}


def text(grants: tuple[Grant, ...], resolver: Resolver) -> str:
    """The compact JSON STS receives."""
    return json.dumps(document(grants, resolver), separators=(",", ":"))


def pseudo_of(role_arn: str, region: str) -> dict[str, str]:
    """Partition and account from the role's ARN, with the function's region."""
    match = _ROLE_ARN.match(role_arn)
    if match is None:
        raise ValueError(f"not an IAM role ARN: {role_arn!r}")
    return {"partition": match["partition"], "account": match["account"], "region": region}


def runtime_resolver(environ: Mapping[str, str], role_arn: str, region: str) -> Resolver:
    """Declarations resolved against the running function's settings (defaults where unset)."""
    from opsfn.core.settings import setting_default

    return Resolver(lambda name: environ.get(name) or None, pseudo_of(role_arn, region),
                    defaults=setting_default)


def estimated_size(grants: tuple[Grant, ...]) -> int:
    """The policy's length with every setting at the longest value a deployment plausibly gives."""
    fill: Callable[[str], str] = lambda _name: _ESTIMATE_VALUE  # noqa: E731 - a constant lookup
    return len(text(grants, Resolver(fill, _ESTIMATE_PSEUDO)))


def needs_managed_policy(grants: tuple[Grant, ...]) -> bool:
    """Whether a route's declarations may not fit inline: the generator writes it a managed one."""
    return estimated_size(grants) > MAX_INLINE * _ESTIMATE_HEADROOM
