"""The routes role of the generated template: the domains' grants are held by a role only the
function may assume, the function's role keeps its own, and oversized routes get their domain's
managed session policy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from opsfn.core.groups import domain_of, select
from opsfn.core.session_policy import needs_managed_policy
from opsfn.handler import app as builtin_app
from opsfn.tooling.generate.template import generate
from opsfn.tooling.template_reader import parse_yaml

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "infra" / "base.yaml"
FUNCTION_OWN = {"logs", "core", "efs", "ssl-efs", "framework"}


def _base() -> dict[str, Any]:
    return parse_yaml(BASE.read_text())


@pytest.fixture(scope="module")
def whole() -> dict[str, Any]:
    return generate(builtin_app, _base())


@pytest.fixture(scope="module")
def split() -> dict[str, Any]:
    return generate(builtin_app, _base(), groups={"ImagingFunction": {"routes": ["imaging"]}})


def _names(role: dict[str, Any]) -> set[str]:
    found = set()
    for entry in role["Properties"].get("Policies") or []:
        policy = entry["Fn::If"][1] if "Fn::If" in entry else entry
        found.add(policy["PolicyName"])
    return found


def _attached(template: dict[str, Any], role: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items()
            if r["Type"] == "AWS::IAM::Policy" and {"Ref": role} in _roles(r["Properties"]["Roles"])}


def _roles(value: Any) -> list[Any]:
    """The roles a policy names, in either branch of an ``Fn::If`` (the key's policy has one)."""
    if isinstance(value, dict) and "Fn::If" in value:
        return [role for branch in value["Fn::If"][1:] for role in _roles(branch)]
    return list(value) if isinstance(value, list) else [value]


def _variables(template: dict[str, Any], function: str) -> dict[str, Any]:
    variables: dict[str, Any] = template["Resources"][function]["Properties"]["Environment"][
        "Variables"]
    return variables


def _assert_routes_role(template: dict[str, Any], function: str, role: str, routes_role: str,
                        assume: str) -> None:
    """``routes_role`` is trusted by ``role`` alone, which may assume it, and ``function`` names it
    (and waits for the right to assume it)."""
    resources = template["Resources"]
    trust = resources[routes_role]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust == [{"Effect": "Allow", "Principal": {"AWS": {"Fn::GetAtt": [role, "Arn"]}},
                      "Action": "sts:AssumeRole"}]
    assert resources[routes_role]["Properties"]["MaxSessionDuration"] == 3600
    (statement,) = _attached(template, role)[assume]["Properties"]["PolicyDocument"]["Statement"]
    assert (statement["Action"], statement["Resource"]) == (
        "sts:AssumeRole", {"Fn::GetAtt": [routes_role, "Arn"]})
    assert set(_attached(template, routes_role)) <= {"KmsKeyUse"}  # the key's, when there is one
    assert _variables(template, function)["OPSFN_ROUTES_ROLE_ARN"] == {
        "Fn::GetAtt": [routes_role, "Arn"]}
    depends = resources[function]["DependsOn"]
    assert assume in ([depends] if isinstance(depends, str) else depends)


def test_the_routes_role_holds_every_domain_policy_and_trusts_only_the_function(
        whole: dict[str, Any]) -> None:
    resources = whole["Resources"]
    domains = {domain_of(r) for r in builtin_app.registry.routes if r.access}
    assert _names(resources["RoutesRole"]) == domains
    _assert_routes_role(whole, "OpsFunction", "OpsFunctionRole", "RoutesRole", "AssumeRoutesRole")


def test_the_function_role_keeps_only_its_own_grants_and_the_assume(
        whole: dict[str, Any]) -> None:
    assert _names(whole["Resources"]["OpsFunctionRole"]) == FUNCTION_OWN
    assert set(_attached(whole, "OpsFunctionRole")) == {"AssumeRoutesRole", "KmsKeyUse"}


def test_session_policies_exist_exactly_for_domains_with_oversized_routes(
        whole: dict[str, Any]) -> None:
    resources = whole["Resources"]
    oversized = {domain_of(r) for r in builtin_app.registry.routes
                 if needs_managed_policy(r.access)}
    assert oversized  # the built-in routes have some: the managed path is exercised
    managed = {name: r for name, r in resources.items() if r["Type"] == "AWS::IAM::ManagedPolicy"}
    assert set(managed) == {f"{d.title()}SessionPolicy" for d in oversized}
    routes_policies = {}
    for entry in resources["RoutesRole"]["Properties"]["Policies"]:
        policy = entry["Fn::If"][1] if "Fn::If" in entry else entry
        routes_policies[policy["PolicyName"]] = (entry, policy)
    for domain in oversized:
        props = managed[f"{domain.title()}SessionPolicy"]["Properties"]
        assert not {"Roles", "Users", "Groups"} & set(props)  # a session policy only
        entry, policy = routes_policies[domain]
        assert props["PolicyDocument"] == policy["PolicyDocument"]
        condition = entry["Fn::If"][0] if "Fn::If" in entry else None
        assert managed[f"{domain.title()}SessionPolicy"].get("Condition") == condition
    value = _variables(whole, "OpsFunction")["OPSFN_SESSION_POLICIES"]
    assert value["Fn::Join"][0] == ","
    assert sorted(value["Fn::Join"][1], key=str) == sorted(
        [_named(d, f"{d.title()}SessionPolicy") for d in oversized], key=str)


def test_a_conditional_domain_policy_gives_a_conditional_session_policy() -> None:
    from opsfn.access import allow, arn_pattern
    from opsfn.core.app import App
    from opsfn.core.router import Router

    router = Router()
    actions = [f"rds:Describe{'X' * 30}{n}" for n in range(60)]  # too many for an inline policy

    @router.action("describe_cluster", access=[allow(*actions, on=arn_pattern(
        "arn:{partition}:rds:{region}:{account}:cluster:{DB_CLUSTER_ID}"))])
    def describe_cluster() -> None:
        """Only meaningful with a cluster."""

    template = generate(App([router]), _base())
    policy = template["Resources"]["TestsSessionPolicy"]
    assert policy["Condition"] == "HasDbCluster"
    assert _variables(template, "OpsFunction")["OPSFN_SESSION_POLICIES"] == {"Fn::Join": [",", [
        {"Fn::If": ["HasDbCluster", _named("tests", "TestsSessionPolicy"), ""]}]]}


def _named(domain: str, policy: str) -> dict[str, Any]:
    """``domain=<the policy's name>``: the name, not the ARN, keeps the environment short."""
    return {"Fn::Join": ["", [f"{domain}=", {"Fn::Select": [1, {"Fn::Split": [
        ":policy/", {"Ref": policy}]}]}]]}


def test_a_group_gets_its_own_routes_role(split: dict[str, Any]) -> None:
    resources = split["Resources"]
    _assert_routes_role(split, "ImagingFunction", "ImagingFunctionRole",
                        "ImagingFunctionRoutesRole", "ImagingFunctionAssumeRoutesRole")
    assert _names(resources["ImagingFunctionRoutesRole"]) == {"imaging"}
    assert "imaging" not in _names(resources["RoutesRole"])
    assert _names(resources["ImagingFunctionRole"]) == {"logs", "core", "framework"}
    oversized = {domain_of(r) for r in select(builtin_app.registry.routes, "imaging")
                 if needs_managed_policy(r.access)}
    assert ("OPSFN_SESSION_POLICIES" in _variables(split, "ImagingFunction")) == bool(oversized)


def test_without_a_routes_role_the_function_role_holds_the_domains() -> None:
    base = _base()
    del base["Metadata"]["opsfn"]["routes_role"]
    template = generate(builtin_app, base)
    domains = {domain_of(r) for r in builtin_app.registry.routes if r.access}
    assert domains <= _names(template["Resources"]["OpsFunctionRole"])
    assert "Policies" not in template["Resources"]["RoutesRole"]["Properties"]
    assert "OPSFN_SESSION_POLICIES" not in _variables(template, "OpsFunction")
    assert not [r for r in template["Resources"].values()
                if r["Type"] == "AWS::IAM::ManagedPolicy"]


def test_a_groups_roles_may_use_the_customer_key_as_the_main_ones_do(
        split: dict[str, Any]) -> None:
    """With KmsKeyArn, S3 and DynamoDB use the key with the caller's permissions: a group's
    function and its routes' sessions need it as much as the main function's."""
    resources = split["Resources"]
    condition, *branches = resources["KmsKeyUse"]["Properties"]["Roles"]["Fn::If"]
    assert condition == "UseDataSync"
    for roles in branches:
        for main, group in (("OpsFunctionRole", "ImagingFunctionRole"),
                            ("RoutesRole", "ImagingFunctionRoutesRole")):
            assert {"Ref": main} in roles and {"Ref": group} in roles
    # The main function's right to assume its routes role stays its own.
    assert resources["AssumeRoutesRole"]["Properties"]["Roles"] == [{"Ref": "OpsFunctionRole"}]
    assert set(_attached(split, "ImagingFunctionRole")) == {
        "ImagingFunctionAssumeRoutesRole", "KmsKeyUse"}
