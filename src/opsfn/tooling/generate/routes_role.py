"""The routes role of a generated template and the managed session policies it needs.

With ``Metadata.opsfn.routes_role`` the base names a role that only the function's role may
assume; the domains' policies go on it, and the function's role keeps its own grants (logs, the
action queue, traces, the framework's) and the right to assume it. A route whose declarations
may not fit STS's inline session policy is narrowed by its domain's managed policy instead: one
``<Domain>SessionPolicy`` per such domain, attached to nothing, named to the function in
``OPSFN_SESSION_POLICIES``. A group's function gets its own copy of the role.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from opsfn.core.groups import domain_of
from opsfn.core.router import Route
from opsfn.core.session_policy import needs_managed_policy
from opsfn.tooling.generate.events import camel
from opsfn.tooling.generate.iam import Namer, policies

ROLE_SETTING = "OPSFN_ROUTES_ROLE_ARN"
POLICIES_SETTING = "OPSFN_SESSION_POLICIES"
FRAMEWORK = "framework"


def session_policy_id(domain: str) -> str:
    """``database`` as ``DatabaseSessionPolicy``."""
    return f"{camel(domain)}SessionPolicy"


def oversized_domains(routes: Iterable[Route]) -> list[str]:
    """Domains with a route whose session policy may not fit inline, in order."""
    return list(dict.fromkeys(domain_of(r) for r in routes if needs_managed_policy(r.access)))


def _unwrapped(policy: Any) -> tuple[str | None, dict[str, Any]]:
    if isinstance(policy, dict) and "Fn::If" in policy:
        return policy["Fn::If"][0], policy["Fn::If"][1]
    return None, policy


def onto_routes_role(found: list[Any], routes_role: dict[str, Any]) -> list[Any]:
    """Put the domains' policies of ``found`` on the routes role (its properties); returns the
    rest, the framework's, which stays with the function's role: its calls are the function's."""
    routes_role["Policies"] = [*(routes_role.get("Policies") or []),
                               *(p for p in found if _unwrapped(p)[1]["PolicyName"] != FRAMEWORK)]
    return [p for p in found if _unwrapped(p)[1]["PolicyName"] == FRAMEWORK]


def session_policies(found: list[Any], domains: Iterable[str]) -> dict[str, Any]:
    """A managed policy per domain of ``domains``, of the statements of its inline policy in
    ``found`` (existing under the same condition)."""
    wanted = set(domains)
    made: dict[str, Any] = {}
    for entry in found:
        condition, policy = _unwrapped(entry)
        domain = policy["PolicyName"]
        if domain not in wanted:
            continue
        resource: dict[str, Any] = {"Type": "AWS::IAM::ManagedPolicy", "Properties": {
            "Description": f"opsfn - session policy of the {domain} routes too large for STS "
                           "to take inline",
            "PolicyDocument": policy["PolicyDocument"]}}
        if condition:
            resource["Condition"] = condition
        made[session_policy_id(domain)] = resource
    return made


def add_session_policies(template: dict[str, Any], routes: list[Route],
                         namer_for: Callable[[str], Namer]) -> None:
    """The managed session policies of every domain with an oversized route (of any function)."""
    found, conditions = policies(routes, namer_for)
    template.setdefault("Conditions", {}).update(conditions)
    template["Resources"].update(session_policies(found, oversized_domains(routes)))


def session_policies_value(resources: Mapping[str, Any], routes: Iterable[Route]) -> Any:
    """``OPSFN_SESSION_POLICIES`` of a function serving ``routes`` (None: it needs none)."""
    parts: list[Any] = []
    for domain in oversized_domains(routes):
        name = session_policy_id(domain)
        if name not in resources:
            continue
        # The policy's name, not its ARN: Lambda allows 4 KB of environment in all, and the
        # function makes the ARN from the routes role's partition and account.
        part = {"Fn::Join": ["", [f"{domain}=", {"Fn::Select": [1, {"Fn::Split": [
            ":policy/", {"Ref": name}]}]}]]}
        condition = resources[name].get("Condition")
        parts.append({"Fn::If": [condition, part, ""]} if condition else part)
    if not parts:
        return None
    if len(parts) == 1 and "Fn::Join" in parts[0]:
        return parts[0]
    return {"Fn::Join": [",", parts]}


def assume_policies(resources: Mapping[str, Any], role: str, routes_role: str) -> list[str]:
    """The ``AWS::IAM::Policy`` resources that let ``role`` assume ``routes_role``."""
    needle = json.dumps({"Fn::GetAtt": [routes_role, "Arn"]})
    return [name for name, resource in resources.items()
            if isinstance(resource, dict) and resource.get("Type") == "AWS::IAM::Policy"
            and {"Ref": role} in roles_named((resource.get("Properties") or {}).get("Roles", []))
            and needle in json.dumps(resource)]


def roles_named(value: Any) -> list[Any]:
    """The roles a policy's ``Roles`` names, in either branch of an ``Fn::If``."""
    if isinstance(value, dict) and "Fn::If" in value:
        return [role for branch in value["Fn::If"][1:] for role in roles_named(branch)]
    return list(value) if isinstance(value, list) else [value]


def renamed(value: Any, names: Mapping[str, str]) -> Any:
    """``value`` with every ``Ref``/``GetAtt``/``Sub`` of a logical id in ``names`` renamed."""
    if isinstance(value, list):
        return [renamed(v, names) for v in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"Ref"} and value["Ref"] in names:
        return {"Ref": names[value["Ref"]]}
    if set(value) == {"Fn::GetAtt"} and value["Fn::GetAtt"][0] in names:
        return {"Fn::GetAtt": [names[value["Fn::GetAtt"][0]], *value["Fn::GetAtt"][1:]]}
    if set(value) == {"Fn::Sub"} and isinstance(value["Fn::Sub"], str):
        text = value["Fn::Sub"]
        for old, new in names.items():
            text = text.replace("${" + old + "}", "${" + new + "}").replace(
                "${" + old + ".", "${" + new + ".")
        return {"Fn::Sub": text}
    return {k: renamed(v, names) for k, v in value.items()}


def add_group_routes_role(resources: dict[str, Any], group: str, *, role: str, routes_role: str,
                          function: dict[str, Any], pristine: Mapping[str, Any]
                          ) -> dict[str, Any]:
    """The group's own routes role (trusted by the group's role) and the policy to assume it;
    ``function`` (the group's, a copy of the main one) is pointed at them. Returns the new
    routes role's properties, for the group's domain policies."""
    names = {role: f"{group}Role", routes_role: f"{group}{routes_role}"}
    for assume in assume_policies(pristine, role, routes_role):
        names[assume] = f"{group}{assume}"
    for old, new in names.items():
        if old != role:
            resources[new] = renamed(pristine[old], names)
    depends = function.get("DependsOn")
    if depends is not None:
        listed = [depends] if isinstance(depends, str) else list(depends)
        function["DependsOn"] = [names.get(d, d) for d in listed]
    function["Properties"] = renamed(function["Properties"], {routes_role: names[routes_role]})
    own: dict[str, Any] = resources[names[routes_role]]["Properties"]
    return own
