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
from collections.abc import Mapping
from typing import Any

from opsfn.core.access import Grant, allow, arn
from opsfn.core.access_policy import Resolver, statements
from opsfn.core.settings import setting_default

MAX_INLINE = 2048
"""The most plain-text characters STS takes in an inline session policy."""

KEY_ACCESS = (allow("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey",
                    on=arn("OPSFN_KMS_KEY_ARN"), if_set="OPSFN_KMS_KEY_ARN"),)
"""What every session may do with the deployment's own key: S3, DynamoDB and SQS use it with the
caller's permissions, so a route reading an encrypted object needs it beside ``s3:GetObject``."""


def session_grants(access: tuple[Grant, ...]) -> tuple[Grant, ...]:
    """A route's declarations and what every session needs (the key, where there is one)."""
    return (*access, *KEY_ACCESS)

_SESSION_NAME = re.compile(r"[^\w+=,.@-]+")
_ROLE_ARN = re.compile(r"^arn:(?P<partition>[a-z-]+):iam::(?P<account>\d{12}):role/.+$")
# The longest value each kind of setting plausibly holds in a deployment: CloudFormation's
# generated names (stack, logical id, 13 random characters) or an ARN of one.
_ESTIMATE_LENGTH = 96
_ESTIMATE_PSEUDO = {"partition": "aws-us-gov", "region": "ap-southeast-4", "account": "0" * 12}
_ESTIMATE_HEADROOM = 0.8


def session_name(label: str) -> str:
    """A ``RoleSessionName`` that says which route holds the session (CloudTrail shows it)."""
    cleaned = _SESSION_NAME.sub("-", label).strip("-") or "route"
    return f"opsfn-{cleaned}"[:64]


def document(grants: tuple[Grant, ...], resolver: Resolver, *, coarse: bool = False
             ) -> dict[str, Any]:
    """The policy document of ``grants``: statement names dropped (they only cost characters),
    statements on the same resources, or of the same actions, merged (which widens nothing).

    ``coarse``: the shorter form for a route whose exact policy STS would refuse as too long:
    per service, each declared action on each of the route's declared resources of that service
    (conditioned and ``*`` statements kept apart). It can allow one of the route's actions on
    another of the route's own resources, never anything on a resource the route did not name.
    """
    found = statements(grants, resolver)
    for statement in found:
        statement.pop("Sid", None)
    if coarse:
        found = _per_service(found)
    found = _merged(_merged(found, "Resource", "Action"), "Action", "Resource")
    if not found:
        # Nothing declared (or every feature it serves is off): a policy that allows nothing.
        found = [{"Effect": "Deny", "Action": "*", "Resource": "*"}]
    return {"Version": "2012-10-17", "Statement": found}


def _listed(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _single(values: list[str]) -> str | list[str]:
    return values[0] if len(values) == 1 else values


def _merged(found: list[dict[str, Any]], same: str, union: str) -> list[dict[str, Any]]:
    """Statements equal in ``same`` and in their condition made one, ``union`` joined."""
    out: list[dict[str, Any]] = []
    for statement in found:
        key = sorted(_listed(statement[same]))
        match = next((s for s in out if sorted(_listed(s[same])) == key
                      and s.get("Condition") == statement.get("Condition")), None)
        if match is None:
            out.append(dict(statement))
            continue
        joined = _listed(match[union])
        joined += [v for v in _listed(statement[union]) if v not in joined]
        match[union] = _single(joined)
    return out


def _per_service(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Unconditioned statements on named resources joined per service."""
    out: list[dict[str, Any]] = []
    by_service: dict[str, dict[str, Any]] = {}
    for statement in found:
        actions, resources = _listed(statement["Action"]), _listed(statement["Resource"])
        services = {a.split(":", 1)[0] for a in actions}
        if statement.get("Condition") or "*" in resources or len(services) != 1:
            out.append(statement)
            continue
        joined = by_service.get(services.pop())
        if joined is None:
            joined = by_service[actions[0].split(":", 1)[0]] = {
                "Effect": "Allow", "Action": [], "Resource": []}
            out.append(joined)
        joined["Action"] += [a for a in actions if a not in joined["Action"]]
        joined["Resource"] += [r for r in resources if r not in joined["Resource"]]
    for statement in out:
        statement["Action"] = _single(_listed(statement["Action"]))
        statement["Resource"] = _single(_listed(statement["Resource"]))
    return out


def text(grants: tuple[Grant, ...], resolver: Resolver, *, coarse: bool = False) -> str:
    """The compact JSON STS receives."""
    return json.dumps(document(grants, resolver, coarse=coarse), separators=(",", ":"))


def pseudo_of(role_arn: str, region: str) -> dict[str, str]:
    """Partition and account from the role's ARN, with the function's region."""
    match = _ROLE_ARN.match(role_arn)
    if match is None:
        raise ValueError(f"not an IAM role ARN: {role_arn!r}")
    return {"partition": match["partition"], "account": match["account"], "region": region}


def runtime_resolver(environ: Mapping[str, str], role_arn: str, region: str) -> Resolver:
    """Declarations resolved against the running function's settings (defaults where unset)."""
    return Resolver(lambda name: environ.get(name) or None, pseudo_of(role_arn, region),
                    defaults=setting_default)


def estimated_size(grants: tuple[Grant, ...], *, coarse: bool = False) -> int:
    """The policy's length with every setting at the longest value a deployment plausibly gives."""
    def fill(name: str) -> str:
        return (name.lower() + "-" * _ESTIMATE_LENGTH)[:_ESTIMATE_LENGTH]

    return len(text(session_grants(grants), Resolver(fill, _ESTIMATE_PSEUDO), coarse=coarse))


def needs_managed_policy(grants: tuple[Grant, ...]) -> bool:
    """Whether a route's declarations may not fit inline even in the coarse form: the generator
    writes it a managed one."""
    return estimated_size(grants, coarse=True) > MAX_INLINE * _ESTIMATE_HEADROOM
