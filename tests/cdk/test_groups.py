"""A group of routes as a function of its own, in the CDK construct: each function gets exactly
its routes' triggers and a role of exactly its routes' declarations."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from opsfn.core.groups import select
from opsfn.handler import app
from opsfn.tooling.ops_rules import Checker

from .conftest import cdk_missing, node_environment


def _synth(factory: pytest.TempPathFactory, stack_name: str, **options: Any) -> dict[str, Any]:
    """The template of a stack holding one OpsFunction made with ``options``; each option may be
    a function of the stack (a key made in it)."""
    reason = cdk_missing()
    if reason:
        pytest.skip(reason)
    with pytest.MonkeyPatch.context() as patch:
        for name in ("PATH", "JSII_NODE"):
            patch.setenv(name, node_environment()[name])
        import aws_cdk as cdk

        from opsfn.cdk import OpsFunction

        tree = factory.mktemp(f"{stack_name}-code")
        (tree / "opsfn").mkdir()
        (tree / "opsfn" / "handler.py").write_text("def lambda_handler(event, context): ...\n")
        out = factory.mktemp(f"{stack_name}.out")
        cdk_app = cdk.App(outdir=str(out))
        stack = cdk.Stack(cdk_app, stack_name)
        OpsFunction(stack, "Ops", code=tree, alert_email="oncall@example.com",
                    **{k: v(stack) if callable(v) else v for k, v in options.items()})
        cdk_app.synth()
        template: dict[str, Any] = json.loads((out / f"{stack_name}.template.json").read_text())
        return template


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    if cdk_missing():
        pytest.skip(str(cdk_missing()))
    from aws_cdk import Duration

    from opsfn.cdk import RouteGroup

    yield _synth(tmp_path_factory, "Split", groups={
        "Imaging": RouteGroup(["imaging"], memory_size=3008, timeout=Duration.seconds(120),
                              reserved_concurrency=10)})


def _of_type(template: dict[str, Any], kind: str) -> dict[str, Any]:
    return {n: r for n, r in template["Resources"].items() if r["Type"] == kind}


def _functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n: r["Properties"] for n, r in _of_type(template, "AWS::Lambda::Function").items()
            if r["Properties"].get("Handler") == "opsfn.handler.lambda_handler"}


def _named(template: dict[str, Any], value: Any) -> str:
    (name,) = {v for v in json.dumps(value).split('"') if v in template["Resources"]}
    return name


def _role_actions(template: dict[str, Any], function: dict[str, Any], routes_role: bool = False
                  ) -> dict[str, set[str]]:
    """Actions by policy name of the function's role (its inline and attached policies), or of
    the routes role its environment names."""
    role_name = _named(template, function["Environment"]["Variables"]["OPSFN_ROUTES_ROLE_ARN"]
                       if routes_role else function["Role"])
    policies = [(p["PolicyName"], p["PolicyDocument"]) for p in
                template["Resources"][role_name]["Properties"].get("Policies", [])]
    policies += [(r["Properties"]["PolicyName"], r["Properties"]["PolicyDocument"])
                 for r in _of_type(template, "AWS::IAM::Policy").values()
                 if {"Ref": role_name} in r["Properties"]["Roles"]]
    found: dict[str, set[str]] = {}
    for name, document in policies:
        actions: set[str] = set()
        for statement in document["Statement"]:
            action = statement["Action"]
            actions |= {action} if isinstance(action, str) else set(action)
        found[name] = actions
    return found


def _declared(spec: str) -> set[str]:
    return {a for r in select(app.registry.routes, spec) for g in r.access for a in g.actions}


def test_each_function_has_its_own_routes_settings_and_sizes(split: dict[str, Any]) -> None:
    functions = _functions(split)
    assert len(functions) == 2
    (imaging,) = [p for p in functions.values() if p["Description"] == "opsfn - the Imaging routes"]
    (main,) = [p for p in functions.values() if p is not imaging]
    assert imaging["Environment"]["Variables"]["OPSFN_ROUTES"] == "imaging"
    assert main["Environment"]["Variables"]["OPSFN_ROUTES"] == "-imaging"
    assert (imaging["MemorySize"], imaging["Timeout"], imaging["ReservedConcurrentExecutions"]) \
        == (3008, 120, 10)
    imaging_role = _role_actions(split, imaging)
    assert set(imaging_role) == {"logs", "core", "framework", "assume-routes-role"}
    assert imaging_role["assume-routes-role"] == {"sts:AssumeRole"}
    assert "sqs:ReceiveMessage" not in imaging_role["core"]  # it reads no action queue
    imaging_routes = _role_actions(split, imaging, routes_role=True)
    assert set(imaging_routes) == {"imaging"}
    assert imaging_routes["imaging"] == _declared("imaging")
    main_routes = _role_actions(split, main, routes_role=True)
    assert "imaging" not in main_routes and "framework" not in main_routes
    assert main_routes["database"] and main_routes["database"] <= _declared("database")
    assert _named(split, imaging["Environment"]["Variables"]["OPSFN_ROUTES_ROLE_ARN"]) != \
        _named(split, main["Environment"]["Variables"]["OPSFN_ROUTES_ROLE_ARN"])


def test_each_routes_role_trusts_only_its_functions_role(split: dict[str, Any]) -> None:
    for function in _functions(split).values():
        routes_role = _named(split, function["Environment"]["Variables"]["OPSFN_ROUTES_ROLE_ARN"])
        trust = split["Resources"][routes_role]["Properties"]["AssumeRolePolicyDocument"]
        (statement,) = trust["Statement"]
        assert statement["Action"] == "sts:AssumeRole"
        assert _named(split, statement["Principal"]) == _named(split, function["Role"])
        assert split["Resources"][routes_role]["Properties"]["MaxSessionDuration"] == 3600


def test_the_groups_http_routes_integrate_with_its_alias(split: dict[str, Any]) -> None:
    routes = {r["Properties"]["RouteKey"]: r["Properties"]
              for r in _of_type(split, "AWS::ApiGatewayV2::Route").values()}
    integrations = _of_type(split, "AWS::ApiGatewayV2::Integration")

    def alias_of(key: str) -> str:
        target = routes[key]["Target"]
        (integration,) = [n for n in integrations if n in json.dumps(target)]
        return json.dumps(integrations[integration]["Properties"]["IntegrationUri"])

    assert alias_of("POST /request-upload") == alias_of("GET /get-results")
    assert alias_of("POST /request-upload") != alias_of("GET /health")
    assert "Imaging" in alias_of("GET /get-results") and "Imaging" not in alias_of("GET /health")
    rules = [r for r in _of_type(split, "AWS::Events::Rule").values()
             if r["Properties"]["EventPattern"].get("detail", {}).get("object")]
    (upload,) = rules
    assert "Imaging" in json.dumps(upload["Properties"]["Targets"])


def test_the_operations_rules_hold_each_function(split: dict[str, Any]) -> None:
    """The group's function is checked with its own routes: its alarms are required too."""
    sound = Checker(app, split).run()  # this small stack configures no relay: one problem
    assert sound == [p for p in sound if p.startswith("ses:receipt")] and len(sound) == 1
    broken = json.loads(json.dumps(split))
    for name in list(_of_type(broken, "AWS::CloudWatch::Alarm")):
        if "Imaging" in name and "Errors" in name:
            del broken["Resources"][name]
    problems = [p for p in Checker(app, broken).run() if p not in sound]
    assert len(problems) == 1 and "no alarm on the function's Errors" in problems[0]


def test_a_groups_roles_may_use_the_customer_key(tmp_path_factory: pytest.TempPathFactory
                                                ) -> None:
    """With a customer key, a group's function, routes and scheduler roles are granted it, as the
    main function's are: S3, DynamoDB and SQS use it with the caller's permissions."""
    if cdk_missing():
        pytest.skip(str(cdk_missing()))
    from aws_cdk import aws_kms as kms

    from opsfn.cdk import RouteGroup

    template = _synth(tmp_path_factory, "Keyed", kms_key=lambda stack: kms.Key(stack, "Key"),
                      groups={"Imaging": RouteGroup(["imaging"])})
    roles = _of_type(template, "AWS::IAM::Role")
    keyed: set[str] = set()
    for policy in _of_type(template, "AWS::IAM::Policy").values():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        if any("kms:Decrypt" in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
               for s in statements):
            keyed |= {_named(template, role) for role in policy["Properties"]["Roles"]}
    group_roles = {n for n in roles if n.startswith("OpsImaging")}
    assert len(group_roles) == 3, sorted(roles)  # function, routes and scheduler role
    assert group_roles <= keyed
