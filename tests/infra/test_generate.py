"""``opsfn infra template``: the shipped templates are its output, and what it writes follows from
the routes (their triggers, auth and access) and nothing else."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from opsfn.access import ANY, allow, arn_pattern, objects, table
from opsfn.core.app import App
from opsfn.core.groups import domain_of
from opsfn.core.router import Router, setting
from opsfn.handler import app as builtin_app
from opsfn.routes import builtin
from opsfn.tooling.generate.routes_role import roles_named
from opsfn.tooling.generate.sources import UnmappedSetting
from opsfn.tooling.generate.template import generate
from opsfn.tooling.template_reader import parse_yaml

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "infra" / "base.yaml"
EXAMPLE = ROOT / "examples" / "clinic-app"


def _cli(*args: str, cwd: Path = ROOT, pythonpath: str | None = None
         ) -> subprocess.CompletedProcess[str]:
    env = {**os.environ}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    return subprocess.run([sys.executable, "-m", "opsfn.tooling.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_the_shipped_template_is_current() -> None:
    done = _cli("infra", "template", "--check")
    assert done.returncode == 0, "run: opsfn infra template\n" + done.stderr


def test_the_example_template_is_current() -> None:
    done = _cli("infra", "template", "--app", "clinic_app.app:app", "--base", "base.yaml",
                "--check", cwd=EXAMPLE,  # this checkout's generator, not an installed one
                pythonpath=f"{EXAMPLE / 'src'}{os.pathsep}{ROOT / 'src'}")
    assert done.returncode == 0, done.stderr


def _base() -> dict[str, Any]:
    return parse_yaml(BASE.read_text())


def _function(template: dict[str, Any]) -> dict[str, Any]:
    return template["Resources"]["OpsFunction"]["Properties"]


def _policies(template: dict[str, Any], roles: tuple[str, ...] = ("OpsFunctionRole", "RoutesRole")
              ) -> dict[str, list[Any]]:
    """The inline policies of the function's role and of the routes role, by name."""
    found: dict[str, list[Any]] = {}
    for role in roles:
        for entry in template["Resources"][role]["Properties"].get("Policies") or []:
            policy = entry["Fn::If"][1] if isinstance(entry, dict) and "Fn::If" in entry else entry
            assert policy["PolicyName"] not in found, policy["PolicyName"]
            found[policy["PolicyName"]] = policy["PolicyDocument"]["Statement"]
    return found


def _unwrapped(statement: Any) -> tuple[dict[str, Any], list[str]]:
    conditions: list[str] = []
    while isinstance(statement, dict) and "Fn::If" in statement:
        conditions.append(statement["Fn::If"][0])
        statement = statement["Fn::If"][1]
    return statement, conditions


def _actions(statements: list[Any]) -> set[str]:
    found: set[str] = set()
    for raw in statements:
        statement, _ = _unwrapped(raw)
        action = statement["Action"]
        found |= {action} if isinstance(action, str) else set(action)
    return found


def test_each_domain_policy_holds_exactly_its_routes_declared_actions() -> None:
    template = generate(builtin_app, _base())
    policies = _policies(template)
    declared: dict[str, set[str]] = {}
    for route in builtin_app.registry.routes:
        declared.setdefault(domain_of(route), set()).update(
            a for g in route.access for a in g.actions)
    for domain, actions in declared.items():
        if actions:
            assert _actions(policies[domain]) == actions, domain
        else:
            assert domain not in policies
    assert _actions(policies["framework"]) == {"sqs:GetQueueUrl", "sqs:SendMessage"}


def test_statements_follow_the_condition_of_their_settings() -> None:
    database = _policies(generate(builtin_app, _base()))["database"]
    conditions = {}
    for raw in database:
        statement, wrapped = _unwrapped(raw)
        conditions[str(statement["Resource"])] = wrapped
    locks = str({"Fn::GetAtt": ["LocksTable", "Arn"]})
    assert conditions[locks] == []  # the lock table is always there
    instance = next(k for k in conditions if ":db:${DatabaseInstanceId}" in k)
    cluster = next(k for k in conditions if ":cluster:${DatabaseClusterId}" in k)
    activity = next(k for k in conditions if "DatabaseActivityTable" in k)
    assert conditions[instance] == ["HasDbInstance"]
    assert conditions[cluster] == ["HasDbCluster"]
    assert conditions[activity] == ["HasActivityTable"]


def _app_with(router: Router) -> App:
    return App([builtin(), router])


def test_a_new_route_adds_its_event_its_statements_and_nothing_else() -> None:
    base = _base()
    before = generate(builtin_app, base)
    router = Router()

    @router.schedule("nightly-report", expression="cron(0 2 * * ? *)", access=[
        allow("s3:PutObject", on=objects("SYNC_BUCKET", "reports/")),
        allow("dynamodb:Query", on=table("AUDIT_TABLE")),
    ])
    def nightly_report() -> None:
        """A route of the kind an application adds."""

    after = generate(_app_with(router), base)
    new_events = set(_function(after)["Events"]) - set(_function(before)["Events"])
    assert new_events == {"NightlyReport"}
    event = _function(after)["Events"]["NightlyReport"]["Properties"]
    assert event["ScheduleExpression"] == "cron(0 2 * * ? *)" and event["State"] == "ENABLED"
    added = {k: v for k, v in _policies(after).items() if k not in _policies(before)}
    assert list(added) == ["tests"]  # the top package of the route's module
    (policy,) = added.values()
    assert _actions(policy) == {"s3:PutObject", "dynamodb:Query"}
    unchanged = copy.deepcopy(after)
    for key in ("Events", "Environment"):
        _function(unchanged)[key] = _function(before)[key]
    unchanged["Resources"]["RoutesRole"] = before["Resources"]["RoutesRole"]
    assert unchanged == before
    assert after["Resources"]["OpsFunctionRole"] == before["Resources"]["OpsFunctionRole"]


def test_http_routes_become_api_events_with_their_authorizer() -> None:
    router = Router()

    @router.get("/reports/{reportId}", auth="jwt")
    def get_report(reportId: str) -> dict[str, str]:
        return {"reportId": reportId}

    @router.post("/reports", auth="default")
    def make_report() -> dict[str, str]:
        return {}

    events = _function(generate(_app_with(router), _base()))["Events"]
    assert events["HttpGetReportsReportId"]["Properties"] == {
        "ApiId": {"Ref": "HttpApi"}, "Method": "GET", "Path": "/reports/{reportId}",
        "Auth": {"Authorizer": "JwtAuthorizer"}}
    assert "Auth" not in events["HttpPostReports"]["Properties"]  # the API's default


def test_s3_routes_filter_on_their_bucket_prefix_and_suffix() -> None:
    router = Router()

    @router.s3(bucket=setting("LANDING_BUCKET"), prefix="csv/", suffix=".csv")
    def on_csv() -> None:
        """Landed CSV files."""

    pattern = _function(generate(_app_with(router), _base()))["Events"]["OnCsv"]["Properties"][
        "Pattern"]
    assert pattern["detail"] == {"bucket": {"name": [{"Ref": "LandingBucket"}]},
                                 "object": {"key": [{"wildcard": "csv/*.csv"}]}}


def test_an_unmapped_setting_without_a_default_becomes_a_parameter() -> None:
    router = Router()

    @router.action("read_report", access=[allow("s3:GetObject", on=objects("REPORT_BUCKET"))])
    def read_report() -> None:
        """Reads a bucket the base does not know."""

    template = generate(_app_with(router), _base())
    assert template["Parameters"]["ReportBucket"]["Default"] == ""
    assert template["Conditions"]["HasReportBucket"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "ReportBucket"}, ""]}]}
    assert _function(template)["Environment"]["Variables"]["REPORT_BUCKET"] == {
        "Fn::If": ["HasReportBucket", {"Ref": "ReportBucket"}, {"Ref": "AWS::NoValue"}]}
    statements = next(v for k, v in _policies(template).items() if k.startswith("test"))
    assert _unwrapped(statements[0])[1] == ["HasReportBucket"]


def test_a_policy_of_conditional_statements_only_exists_under_them() -> None:
    router = Router()

    @router.action("describe_cluster", access=[
        allow("rds:DescribeDBClusters", on=arn_pattern(
            "arn:{partition}:rds:{region}:{account}:cluster:{DB_CLUSTER_ID}"))])
    def describe_cluster() -> None:
        """Only meaningful with a cluster."""

    template = generate(App([router]), _base())
    policy = next(p for p in template["Resources"]["RoutesRole"]["Properties"]["Policies"]
                  if isinstance(p, dict) and "Fn::If" in p
                  and p["Fn::If"][1]["PolicyName"] == "tests")
    assert policy["Fn::If"][0] == "HasDbCluster"
    router2 = Router()

    @router2.action("describe_both", access=[
        allow("rds:DescribeDBClusters", on=arn_pattern(
            "arn:{partition}:rds:{region}:{account}:cluster:{DB_CLUSTER_ID}")),
        allow("rds:DescribeDBInstances", on=arn_pattern(
            "arn:{partition}:rds:{region}:{account}:db:{DB_INSTANCE_ID}"))])
    def describe_both() -> None:
        """Either database."""

    template = generate(App([router2]), _base())
    policy = next(p for p in template["Resources"]["RoutesRole"]["Properties"]["Policies"]
                  if isinstance(p, dict) and "Fn::If" in p
                  and p["Fn::If"][1]["PolicyName"] == "tests")
    assert template["Conditions"][policy["Fn::If"][0]] == {
        "Fn::Or": [{"Condition": "HasDbCluster"}, {"Condition": "HasDbInstance"}]}


def test_star_resources_are_only_where_declared_with_a_reason() -> None:
    template = generate(builtin_app, _base())
    generated = {domain_of(r) for r in builtin_app.registry.routes} | {"framework"}
    starred = set()
    for name, statements in _policies(template).items():
        if name not in generated:
            continue  # the base's own (logs, X-Ray, file system mounts)
        for raw in statements:
            statement, _ = _unwrapped(raw)
            if statement["Resource"] == "*":
                action = statement["Action"]
                starred |= {action} if isinstance(action, str) else set(action)
    declared = {a for r in builtin_app.registry.routes for g in r.access if ANY in g.resources
                for a in g.actions}
    assert starred == declared
    assert all(g.why for r in builtin_app.registry.routes for g in r.access if ANY in g.resources)


def test_a_setting_with_neither_a_value_nor_a_default_in_a_pattern_is_refused() -> None:
    router = Router()

    @router.action("odd", access=[allow("sns:Publish", on=arn_pattern(
        "arn:{partition}:sns:{region}:{account}:{NOWHERE_TOPIC}"))])
    def odd() -> None:
        """Names a setting nothing maps."""

    base = _base()
    base["Metadata"]["opsfn"]["settings"]["NOWHERE_TOPIC"] = {"value": {"Ref": "AlertTopic"}}
    with pytest.raises(ValueError, match="maps NOWHERE_TOPIC, which no settings section"):
        generate(App([router]), base)  # the base maps only settings (a typo is refused)
    del base["Metadata"]["opsfn"]["settings"]["NOWHERE_TOPIC"]
    template = generate(App([router]), base)  # unmapped: a parameter
    assert "NowhereTopic" in template["Parameters"]


def test_unmapped_setting_error_names_it() -> None:
    from opsfn.tooling.generate.iam import Namer

    with pytest.raises(UnmappedSetting, match="MISSING_THING"):
        Namer({}, lambda _name: None, "a route").source("MISSING_THING")


# -- a group of routes deployed as a function of its own ------------------------------------------
def _role_actions(template: dict[str, Any], role: str, generated_only: bool = True
                  ) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for entry in template["Resources"][role]["Properties"].get("Policies") or []:
        policy = entry["Fn::If"][1] if "Fn::If" in entry else entry
        if generated_only and policy["PolicyName"] in ("logs", "core", "efs", "ssl-efs"):
            continue
        found[policy["PolicyName"]] = _actions(policy["PolicyDocument"]["Statement"])
    for resource in template["Resources"].values():  # and the policies attached to it
        props = resource.get("Properties") or {}
        if resource["Type"] == "AWS::IAM::Policy" and {"Ref": role} in roles_named(
                props.get("Roles", [])) and "Condition" not in resource:  # the key's is optional
            found[props["PolicyName"]] = _actions(props["PolicyDocument"]["Statement"])
    return found


def _resources(statements: list[Any]) -> list[Any]:
    return [_unwrapped(s)[0]["Resource"] for s in statements]


def test_a_split_function_has_exactly_its_routes_triggers_and_statements() -> None:
    from opsfn.core.groups import select

    template = generate(builtin_app, _base(), groups={"ImagingFunction": {
        "routes": ["imaging"], "memory": 3008, "timeout": 120, "reserved_concurrency": 10}})
    resources = template["Resources"]
    imaging = resources["ImagingFunction"]["Properties"]
    main = resources["OpsFunction"]["Properties"]
    assert imaging["Environment"]["Variables"]["OPSFN_ROUTES"] == "imaging"
    assert main["Environment"]["Variables"]["OPSFN_ROUTES"] == "-imaging"
    assert (imaging["MemorySize"], imaging["Timeout"], imaging["ReservedConcurrentExecutions"]) \
        == (3008, 120, 10)
    assert "FileSystemConfigs" not in imaging and imaging["Role"] == {
        "Fn::GetAtt": ["ImagingFunctionRole", "Arn"]}
    whole = generate(builtin_app, _base())
    every = _function(whole)["Events"]
    assert set(imaging["Events"]) == {"HttpPostRequestUpload", "OnUpload", "HttpGetResults"}
    assert set(imaging["Events"]) | set(main["Events"]) == set(every)
    assert not set(imaging["Events"]) & set(main["Events"])
    for name, event in imaging["Events"].items():
        assert event == every[name]
    # Its routes role: the imaging routes' declarations, nothing else; its own role: the
    # framework's parking and what any function needs.
    own = _role_actions(template, "ImagingFunctionRoutesRole")
    assert set(own) == {"imaging"}
    assert set(_role_actions(template, "ImagingFunctionRole")) == {"framework", "assume-routes-role"}
    declared = {a for r in select(builtin_app.registry.routes, "imaging") for g in r.access
                for a in g.actions}
    assert own["imaging"] == declared
    statements = next(p["PolicyDocument"]["Statement"] for p in
                      resources["ImagingFunctionRoutesRole"]["Properties"]["Policies"]
                      if p.get("PolicyName") == "imaging")
    named = {str(r) for r in _resources(statements)}
    assert all("UploadBucket" in r or "JobsTable" in r or r == "*" for r in named), named
    assert "imaging" not in _role_actions(template, "RoutesRole")
    assert _role_actions(template, "RoutesRole")["database"] == \
        _role_actions(whole, "RoutesRole")["database"]
    # What any function needs, and no more: no action queue, no file system.
    base_own = _role_actions(template, "ImagingFunctionRole", generated_only=False)
    assert set(base_own) == {"logs", "core", "framework", "assume-routes-role"}
    assert _actions(next(p["PolicyDocument"]["Statement"] for p in resources[
        "ImagingFunctionRole"]["Properties"]["Policies"] if p.get("PolicyName") == "core")) == {
        "sqs:SendMessage", "xray:PutTraceSegments", "xray:PutTelemetryRecords"}
    assert {"ImagingFunctionFunctionErrorsAlarm", "ImagingFunctionFunctionDurationAlarm"} <= set(
        resources)


def test_the_split_template_lints_clean(tmp_path: Path) -> None:
    from cfnlint.api import lint_file

    from opsfn.tooling.generate import cfn_yaml
    from opsfn.tooling.ops_rules import Checker

    path = tmp_path / "split.yaml"
    template = generate(builtin_app, _base(), groups={
        "ImagingFunction": {"routes": ["imaging"]},
        "OperationsFunction": {"routes": ["incidents", "database"], "memory": 512}})
    path.write_text(cfn_yaml.dumps(template))
    assert [f"{m.rule.id} {m.message}" for m in lint_file(path)] == []
    assert Checker(builtin_app, template).run() == []  # every function, with its own routes


def test_groups_that_cannot_be_split_are_refused() -> None:
    with pytest.raises(ValueError, match="answered through resources"):
        generate(builtin_app, _base(), groups={"TlsFunction": {"routes": ["tls"]}})
    with pytest.raises(ValueError, match="names no route"):
        generate(builtin_app, _base(), groups={"X": {"routes": ["imagin"]}})
    with pytest.raises(ValueError, match="one action queue"):
        generate(builtin_app, _base(), groups={"Sync": {"routes": ["exports"]}})
    with pytest.raises(ValueError, match="another group"):
        generate(builtin_app, _base(), groups={"A": {"routes": ["imaging"]},
                                              "B": {"routes": ["GET /get-results"]}})


def test_the_command_takes_groups() -> None:
    done = _cli("infra", "template", "--group", "ImagingFunction=imaging", "--output", "-")
    assert done.returncode == 0, done.stderr
    resources = parse_yaml(done.stdout)["Resources"]
    assert resources["ImagingFunction"]["Properties"]["Environment"]["Variables"][
        "OPSFN_ROUTES"] == "imaging"
    refused = _cli("infra", "template", "--group", "Imaging Function=imaging", "--output", "-")
    assert refused.returncode != 0 and "NAME=ROUTES" in refused.stderr
