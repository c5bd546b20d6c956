"""The routes role a function names agrees with the function's own role.

A function whose ``OPSFN_ROUTES_ROLE_ARN`` names a role of the template makes every route's AWS
call with a session of that role: without ``sts:AssumeRole`` on it, or without the role trusting
the function's role, every route that calls AWS fails at its first call.
"""

from __future__ import annotations

from typing import Any

from opsfn.tooling.template_reader import ref_target, role_allows, role_trusts

SETTING = "OPSFN_ROUTES_ROLE_ARN"


def routes_role_problems(resources: dict[str, Any], function: str, env: dict[str, Any]
                         ) -> list[str]:
    """The problems of ``function``'s routes role (none when it names none of the template's)."""
    routes_role = ref_target(env.get(SETTING)) if SETTING in env else None
    role = ref_target(((resources.get(function) or {}).get("Properties") or {}).get("Role"))
    if routes_role not in resources or role not in resources:
        return []  # no routes role, or one made elsewhere: nothing to compare
    assert routes_role is not None and role is not None
    problems = []
    if not role_allows(resources, role, {"sts:AssumeRole", "sts:*", "*"}, routes_role):
        problems.append(f"function {function}: its role {role} may not sts:AssumeRole the routes "
                        f"role {routes_role} its {SETTING} names")
    if not role_trusts(resources, routes_role, role):
        problems.append(f"function {function}: the routes role {routes_role} does not trust its "
                        f"role {role} (AssumeRolePolicyDocument)")
    return problems
