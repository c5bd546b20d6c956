"""A group of routes deployed as a function of its own, from the same code and handler.

The group's function is the main function's twin (same code, handler, environment) limited to
its routes by ``OPSFN_ROUTES``, with its own memory, timeout and reserved concurrency, its own
alarms, and a role holding only its routes' declarations plus what any function needs (its log
stream, the failure destination, traces); with a routes role, the declarations go on the group's
own copy of it. It mounts no file system unless the group asks. The main function leaves the
group's routes out.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from opsfn.core.groups import SETTING, select
from opsfn.core.router import ActionSpec, Route
from opsfn.tooling.generate.routes_role import add_group_routes_role, assume_policies

# Routes answered through resources of the base (a custom resource's ServiceToken, the SES
# receipt rule's action) name the main function: they stay with it.
_STAY = ("custom_resource", "ses")
_ANY_FUNCTION = ("AsyncFailureDestination", "XRayHasNoResourceLevelPermissions")
_PROPERTIES = {"memory": "MemorySize", "timeout": "Timeout",
               "reserved_concurrency": "ReservedConcurrentExecutions"}

Wire = Callable[[dict[str, Any], list[Route], dict[str, Any] | None, dict[str, Any] | None],
                None]


@dataclass
class Group:
    """The routes a group's entries select, and the function's own settings."""

    entries: list[str]
    routes: list[Route]
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class Split:
    """Routes of the main function, and each group's."""

    rest: list[Route]
    groups: dict[str, Group]

    def rest_spec(self) -> str:
        """``OPSFN_ROUTES`` of the main function: every group's entries left out."""
        return ",".join(f"-{e}" for group in self.groups.values() for e in group.entries)


def split_routes(routes: list[Route], specs: dict[str, dict[str, Any]]) -> Split:
    """Routes assigned to groups (each route to one at most) and the rest."""
    groups: dict[str, Group] = {}
    taken: set[int] = set()
    for name, spec in specs.items():
        entries = [str(e) for e in spec.get("routes") or []]
        if not entries or any(e.startswith("-") for e in entries):
            raise ValueError(f"group {name} names its routes (domains, keys or functions)")
        chosen = select(routes, ",".join(entries))
        staying = sorted({r.label for r in chosen if r.source in _STAY})
        if staying:
            raise ValueError(f"group {name}: {', '.join(staying)} are answered through resources "
                             "that name the main function; they stay with it")
        queued = sorted(r.label for r in chosen
                        if isinstance(r.spec, ActionSpec) and r.spec.queue)
        if queued:
            raise ValueError(f"group {name}: {', '.join(queued)} take work from the one action "
                             "queue, which the main function reads; they stay with it")
        twice = sorted(r.label for r in chosen if id(r) in taken)
        if twice:
            raise ValueError(f"group {name}: {', '.join(twice)} already belong to another group")
        taken |= {id(r) for r in chosen}
        unknown = set(spec) - {"routes", "file_system", *_PROPERTIES}
        if unknown:
            raise ValueError(f"group {name}: unknown keys {sorted(unknown)}")
        groups[name] = Group(entries, chosen, {k: v for k, v in spec.items() if k != "routes"})
    return Split([r for r in routes if id(r) not in taken], groups)


def _statement_sid(statement: Any) -> str | None:
    while isinstance(statement, dict) and "Fn::If" in statement:
        statement = statement["Fn::If"][1]
    return statement.get("Sid") if isinstance(statement, dict) else None


def _own_policies(policies: list[Any], mounts: bool) -> list[Any]:
    """Of the base role's policies, what the group's function needs whatever its routes."""
    wanted = set(_ANY_FUNCTION)
    kept: list[Any] = []
    for policy in policies:
        inner = policy["Fn::If"][1] if isinstance(policy, dict) and "Fn::If" in policy else policy
        name = inner.get("PolicyName")
        if name == "logs" or (mounts and name in ("efs", "ssl-efs")):
            kept.append(policy)
        elif name == "core":
            document = copy.deepcopy(inner["PolicyDocument"])
            document["Statement"] = [s for s in document["Statement"]
                                     if _statement_sid(s) in wanted]
            kept.append({"PolicyName": name, "PolicyDocument": document})
    return kept


def _clone_alarms(resources: dict[str, Any], main_id: str, name: str) -> None:
    """The main function's alarms, once more for the group's function."""
    needle = json.dumps({"Ref": main_id})
    for alarm_id, alarm in list(resources.items()):
        if alarm.get("Type") == "AWS::CloudWatch::Alarm" and needle in json.dumps(alarm):
            text = json.dumps(alarm).replace(needle, json.dumps({"Ref": name}))
            resources[f"{name}{alarm_id}"] = json.loads(text)


def add_group_function(template: dict[str, Any], main_id: str, name: str, group: Group, *,
                       pristine: dict[str, Any], roles: tuple[str | None, str | None],
                       wire: Wire) -> None:
    """Add the group's function (and roles and alarms) to ``template``.

    ``pristine``: the base's resources before any route was wired; ``roles``: the logical ids of
    the function's role and of the routes role (None where the base has none).
    """
    resources = template["Resources"]
    if name in resources:
        raise ValueError(f"group {name}: the base already has a resource of that name")
    made = copy.deepcopy(pristine[main_id])
    role_id, routes_role_id = roles
    routes_role: dict[str, Any] | None = None
    if role_id and routes_role_id:
        routes_role = add_group_routes_role(resources, name, role=role_id,
                                            routes_role=routes_role_id, function=made,
                                            pristine=pristine)
    props = made["Properties"]
    props["Events"] = {}
    mounts = bool(group.options.get("file_system"))
    if not mounts:
        props.pop("FileSystemConfigs", None)
    props["Description"] = f"opsfn - the {name} routes"
    props.setdefault("Environment", {}).setdefault("Variables", {})[SETTING] = \
        ",".join(group.entries)
    for key, prop in _PROPERTIES.items():
        if key in group.options:
            props[prop] = group.options[key]
    role_props: dict[str, Any] | None = None
    if role_id:
        own_role = copy.deepcopy(pristine[role_id])
        role_props = own_role["Properties"]
        role_props["Policies"] = _own_policies(role_props.get("Policies") or [], mounts)
        resources[f"{name}Role"] = own_role
        props["Role"] = {"Fn::GetAtt": [f"{name}Role", "Arn"]}
    resources[name] = made
    wire(props, group.routes, role_props, routes_role)
    _clone_alarms(resources, main_id, name)
    if role_id:
        counterparts = {role_id: f"{name}Role"}
        if routes_role_id:
            counterparts[routes_role_id] = f"{name}{routes_role_id}"
        _share_role_policies(resources, counterparts, skip=set(
            assume_policies(pristine, role_id, routes_role_id) if routes_role_id else ()))


def _share_role_policies(resources: dict[str, Any], counterparts: dict[str, str], *,
                         skip: set[str]) -> None:
    """Policies the base attaches to the main function's roles (the customer key's) attach to the
    group's counterparts too; the main function's right to assume its routes role does not."""
    for policy_id, resource in resources.items():
        if policy_id in skip or not isinstance(resource, dict) \
                or resource.get("Type") != "AWS::IAM::Policy":
            continue
        props = resource.get("Properties") or {}
        if "Roles" in props:
            props["Roles"] = _with_counterparts(props["Roles"], counterparts)


def _with_counterparts(value: Any, counterparts: dict[str, str]) -> Any:
    if isinstance(value, dict) and isinstance(value.get("Fn::If"), list):
        condition, *branches = value["Fn::If"]
        return {"Fn::If": [condition, *(_with_counterparts(b, counterparts) for b in branches)]}
    if not isinstance(value, list):
        return value
    added = [{"Ref": counterparts[item["Ref"]]} for item in value
             if isinstance(item, dict) and item.get("Ref") in counterparts]
    return [*value, *(role for role in added if role not in value)]
