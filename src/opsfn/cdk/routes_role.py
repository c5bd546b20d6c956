"""The construct's routes role: the role whose sessions the routes' AWS calls use.

The function's role keeps its own grants (logs, the action queue, traces, the framework's) and
may assume the routes role, which holds the domains' policies and trusts that role alone. Each
route's session is narrowed to its declarations (:mod:`opsfn.services.scoped`); a domain with a
route whose declarations may not fit STS's inline session policy gets a managed policy, attached
to nothing, that the function finds in ``OPSFN_SESSION_POLICIES``. Each group's function gets a
routes role of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

import jsii
from aws_cdk import Duration, Fn, IStableAnyProducer, Lazy
from aws_cdk import aws_iam as iam
from constructs import Construct

from opsfn.cdk.route_access import RoutePolicies, synth_resolver
from opsfn.core.access import Grant
from opsfn.core.access_policy import statements
from opsfn.core.groups import domain_of, grants_by_domain
from opsfn.core.router import Route
from opsfn.core.session_policy import needs_managed_policy
from opsfn.tooling.generate.events import camel

ROLE_SETTING = "OPSFN_ROUTES_ROLE_ARN"
POLICIES_SETTING = "OPSFN_SESSION_POLICIES"
_NOTHING = {"Effect": "Deny", "Action": "*", "Resource": "*"}


@dataclass(frozen=True)
class RoutesRole:
    """The routes role and the policy that lets the function's role assume it (the function
    depends on it: custom resources invoke the function while the stack is created)."""

    role: iam.Role
    assume: iam.Policy


def create_routes_role(scope: Construct, function_role: iam.IRole, routes: list[Route],
                       values: Mapping[str, str], arns: Mapping[str, str]) -> RoutesRole:
    """``RoutesRole`` under ``scope``: the domains' policies of ``routes``, trusting
    ``function_role`` alone, and ``AssumeRoutesRole`` on ``function_role``."""
    role = iam.Role(scope, "RoutesRole", assumed_by=iam.ArnPrincipal(function_role.role_arn),
                    max_session_duration=Duration.hours(1),
                    description="opsfn routes - assumed by the function, one session per route")
    cast(iam.CfnRole, role.node.default_child).add_property_override(
        "Policies", Lazy.any(RoutePolicies(lambda: [], grants_by_domain(routes), values, arns)))
    assume = iam.Policy(scope, "AssumeRoutesRole", policy_name="assume-routes-role",
                        roles=[function_role], statements=[iam.PolicyStatement(
                            sid="RouteSessionsOfTheRoutesRole", actions=["sts:AssumeRole"],
                            resources=[role.role_arn])])
    return RoutesRole(role, assume)


@jsii.implements(IStableAnyProducer)
class _Document:
    """A domain's statements, resolved at synth (a policy that allows nothing when every
    setting it needs is unset: IAM refuses an empty one)."""

    def __init__(self, grants: list[Grant], values: Mapping[str, str],
                 arns: Mapping[str, str]) -> None:
        self._grants, self._values, self._arns = grants, values, arns

    def produce(self) -> Any:
        found = statements(tuple(self._grants), synth_resolver(self._values, self._arns))
        return {"Version": "2012-10-17", "Statement": found or [_NOTHING]}


def create_session_policies(scope: Construct, routes: list[Route], values: Mapping[str, str],
                            arns: Mapping[str, str]) -> dict[str, iam.CfnManagedPolicy]:
    """``<Domain>SessionPolicy`` of each domain with an oversized route (of any function)."""
    oversized = {domain_of(r) for r in routes if needs_managed_policy(r.access)}
    made = {}
    for domain, grants in grants_by_domain(routes).items():
        if domain in oversized:
            made[domain] = iam.CfnManagedPolicy(
                scope, f"{camel(domain)}SessionPolicy",
                description=f"opsfn - session policy of the {domain} routes too large for STS "
                            "to take inline",
                policy_document=Lazy.any(_Document(grants, values, arns)))
    return made


def environment(routes_role: iam.IRole, session_policies: Mapping[str, iam.CfnManagedPolicy],
                routes: list[Route]) -> dict[str, str]:
    """The variables that give the function serving ``routes`` its scoped credentials."""
    found = {ROLE_SETTING: routes_role.role_arn}
    wanted = dict.fromkeys(domain_of(r) for r in routes if needs_managed_policy(r.access))
    # Names, not ARNs (Lambda allows 4 KB of environment in all): the function makes the ARN.
    named = [f"{d}={Fn.select(1, Fn.split(':policy/', session_policies[d].ref))}"
             for d in wanted if d in session_policies]
    if named:
        found[POLICIES_SETTING] = ",".join(named)
    return found
