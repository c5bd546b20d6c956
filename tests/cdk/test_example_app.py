"""infra/cdk/app.py synthesized: cfn-lint clean, the operations rules held, one function serving every trigger
through its alias, with the SAM template's triggers and statements."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from opsfn.cdk.access_logs import FIELDS
from opsfn.handler import app
from opsfn.tooling.infra_check import check
from opsfn.tooling.template_reader import (
    Declared,
    declared_triggers,
    load_template,
    ref_target,
    referenced,
)
from tests import nodejs

from .conftest import ROOT, Synthesized

SAM_TEMPLATE = ROOT / "infra" / "template.yaml"
README = ROOT / "infra" / "README.md"
ROUTE_TYPES = {"Custom::SslMaterials", "Custom::SmtpCredential", "Custom::ActiveReceiptRuleSet"}


def _function(synth: Synthesized) -> str:
    functions = synth.of_type("AWS::Lambda::Function")
    assert len(functions) == 1, sorted(functions)
    return next(iter(functions))


def _arn_of(name: str) -> dict[str, Any]:
    return {"Fn::GetAtt": [name, "Arn"]}


def _alias(synth: Synthesized) -> dict[str, Any]:
    """``Ref`` of the one alias: ``live``, on a version of the function (what triggers invoke)."""
    ((name, alias),) = synth.of_type("AWS::Lambda::Alias").items()
    props = alias["Properties"]
    assert props["Name"] == "live" and props["FunctionName"] == {"Ref": _function(synth)}
    version = props["FunctionVersion"]["Fn::GetAtt"]
    assert version[1] == "Version"
    published = synth.resources[version[0]]
    assert published["Type"] == "AWS::Lambda::Version"
    assert published["Properties"] == {"FunctionName": {"Ref": _function(synth)}}
    return {"Ref": name}


def test_jsii_runs_on_a_supported_node(synthesized: Synthesized) -> None:
    """The synth ran on the dev extra's Node 24: jsii printed no banner about the node release
    (end of life, deprecated or untested; each one says what node it runs on)."""
    assert "This software is currently running on node" not in synthesized.stderr
    assert "end-of-life" not in synthesized.stderr
    found = nodejs.node()
    assert found is not None
    version = subprocess.run([str(found), "--version"], capture_output=True, text=True,
                             check=True).stdout
    assert version.startswith("v24."), version


def test_cfn_lint_reports_nothing(synthesized: Synthesized) -> None:
    from cfnlint.api import lint_file

    matches = lint_file(synthesized.path)
    assert [f"{m.rule.id} {m.message} (line {m.linenumber})" for m in matches] == []


def test_no_drift_between_the_synthesized_template_and_the_registry(
        synthesized: Synthesized) -> None:
    assert check(app, synthesized.path) == []
    found = declared_triggers(load_template(synthesized.path))
    assert found.function == _function(synthesized)
    assert len(found.http) == 6 and len(found.s3) == 2 and len(found.eventbridge) == 1
    assert set(found.schedules) == set(app.registry.schedules)
    assert len(found.receipt_rules) == 1 and found.ses_may_invoke


def test_one_function_built_from_the_package(synthesized: Synthesized, lambda_tree: Path) -> None:
    props = synthesized.resources[_function(synthesized)]["Properties"]
    assert props["Handler"] == "opsfn.handler.lambda_handler"
    assert props["Runtime"] == "python3.13"
    assert props["Architectures"] == ["arm64"]
    assert props["LoggingConfig"]["LogFormat"] == "JSON"
    # The asset CDK staged is the package tree: the handler is there, the CDK construct is not.
    asset = synthesized.path.parent / f"asset.{props['Code']['S3Key'].removesuffix('.zip')}"
    assert (asset / "opsfn" / "handler.py").is_file()
    assert (asset / "pydantic").is_dir() and (asset / "cryptography").is_dir()
    assert not (asset / "opsfn" / "cdk").exists()
    assert not (lambda_tree / "opsfn" / "cdk").exists()


def test_every_custom_resource_has_its_real_type_and_the_alias_as_token(
        synthesized: Synthesized) -> None:
    custom = {n: r for n, r in synthesized.resources.items()
              if r["Type"].startswith("Custom::") or r["Type"] == "AWS::CloudFormation::CustomResource"}
    assert {r["Type"] for r in custom.values()} == ROUTE_TYPES
    assert set(app.registry.custom_resources) >= ROUTE_TYPES
    for resource in custom.values():
        assert resource["Properties"]["ServiceToken"] == _alias(synthesized)
    ssl = next(r for r in custom.values() if r["Type"] == "Custom::SslMaterials")["Properties"]
    assert (ssl["CommonName"], ssl["SubjectAltNames"]) == ("localhost", ["localhost"])
    smtp = next(r for r in custom.values() if r["Type"] == "Custom::SmtpCredential")["Properties"]
    assert smtp["SourceSecretKeyField"] == "password" and smtp["SecretField"] == "password"
    assert referenced(smtp["SourceSecretId"]) and referenced(smtp["SecretName"])
    rule_set = next(r for r in custom.values() if r["Type"] == "Custom::ActiveReceiptRuleSet")
    assert referenced(rule_set["Properties"]["RuleSetName"]) == set(
        synthesized.of_type("AWS::SES::ReceiptRuleSet"))
    # activated only once the relay rule is in the set
    assert set(synthesized.of_type("AWS::SES::ReceiptRule")) <= set(rule_set["DependsOn"])


def test_schedules_and_rules_target_the_alias_with_the_route_names(
        synthesized: Synthesized) -> None:
    function, alias = _function(synthesized), _alias(synthesized)
    schedules = {r["Properties"]["Name"]: r["Properties"]
                 for r in synthesized.of_type("AWS::Scheduler::Schedule").values()}
    assert set(schedules) == set(app.registry.schedules)
    groups = {referenced(p["GroupName"]) for p in schedules.values()}
    assert groups == {frozenset(synthesized.of_type("AWS::Scheduler::ScheduleGroup"))}
    for name, props in schedules.items():
        route = app.registry.schedules[name]
        assert props["ScheduleExpression"] == getattr(route.spec, "expression", None)
        assert props["Target"]["Arn"] == alias
        assert "Input" not in props["Target"]  # Scheduler's own event names the schedule; {} would not
    enabled = {n for n, p in schedules.items() if p["State"] == "ENABLED"}
    assert enabled == {"rotate-ssl-materials", "export-rds-snapshot", "sync-efs-to-s3"}
    env = synthesized.resources[function]["Properties"]["Environment"]["Variables"]
    failed_events = referenced(env["OPSFN_FAILED_EVENTS_QUEUE"])
    rules = synthesized.of_type("AWS::Events::Rule")
    assert len(rules) == 3
    for name, rule in rules.items():
        (target,) = rule["Properties"]["Targets"]
        assert target["Arn"] == alias
        assert "Input" not in target and "InputTransformer" not in target
        assert target["RetryPolicy"]["MaximumRetryAttempts"] == 185
        assert referenced(target["DeadLetterConfig"]["Arn"]) == failed_events
        assert any(p["Properties"]["Principal"] == "events.amazonaws.com"
                   and p["Properties"]["SourceArn"] == _arn_of(name)
                   and p["Properties"]["FunctionName"] == alias
                   for p in synthesized.of_type("AWS::Lambda::Permission").values())
    (mapping,) = synthesized.of_type("AWS::Lambda::EventSourceMapping").values()
    assert referenced(mapping["Properties"]["FunctionName"]) == set(referenced(alias))
    assert mapping["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["Properties"]["BatchSize"] == 1


def test_http_routes_carry_the_authorization_the_routes_declare(synthesized: Synthesized) -> None:
    routes = {r["Properties"]["RouteKey"]: r["Properties"]["AuthorizationType"]
              for r in synthesized.of_type("AWS::ApiGatewayV2::Route").values()}
    declared = {r.label: getattr(r.spec, "auth", None) for r in app.registry.routes
                if r.source == "http"}
    assert set(routes) == set(declared)
    for key, auth in declared.items():
        assert routes[key] == ("NONE" if auth == "public" else "AWS_IAM"), key


def test_the_relay_rule_stores_then_invokes(synthesized: Synthesized) -> None:
    function, alias = _function(synthesized), _alias(synthesized)
    (rule,) = synthesized.of_type("AWS::SES::ReceiptRule").values()
    body = rule["Properties"]["Rule"]
    assert body["ScanEnabled"] is True and body["TlsPolicy"] == "Require"
    s3_action, lambda_action = (a for a in body["Actions"])
    env = synthesized.resources[function]["Properties"]["Environment"]["Variables"]
    assert s3_action["S3Action"]["BucketName"] == env["SES_INBOUND_BUCKET"]
    assert s3_action["S3Action"]["ObjectKeyPrefix"] == env["SES_INBOUND_PREFIX"] == "inbound/"
    assert lambda_action["LambdaAction"] == {"FunctionArn": alias, "InvocationType": "Event"}
    (permission_name, permission), = (
        (n, p) for n, p in synthesized.of_type("AWS::Lambda::Permission").items()
        if p["Properties"]["Principal"] == "ses.amazonaws.com")
    assert "SourceArn" in permission["Properties"] and "SourceAccount" in permission["Properties"]
    assert permission["Properties"]["FunctionName"] == alias
    bucket = next(iter(referenced(env["SES_INBOUND_BUCKET"])))
    policy = next(n for n, p in synthesized.of_type("AWS::S3::BucketPolicy").items()
                  if referenced(p["Properties"]["Bucket"]) == {bucket})
    assert {permission_name, policy} <= set(rule["DependsOn"])
    statements = synthesized.resources[policy]["Properties"]["PolicyDocument"]["Statement"]
    ses_write = next(s for s in statements if s.get("Sid") == "SesStoresMailOfTheRelayRule")
    assert ses_write["Action"] == "s3:PutObject"
    assert set(ses_write["Condition"]["StringEquals"]) == {"aws:SourceAccount", "aws:SourceArn"}


def test_the_openemr_layout(synthesized: Synthesized) -> None:
    """The function mounts the SSL file system at its root as root; DataSync copies the sites."""
    props = synthesized.resources[_function(synthesized)]["Properties"]
    env = props["Environment"]["Variables"]
    assert (env["SSL_DIR"], env["SSL_ACCESS_POINT_UID"], env["SSL_ACCESS_POINT_GID"]) == \
        ("/mnt/ssl", "0", "0")
    (mount,) = props["FileSystemConfigs"]
    assert mount["LocalMountPath"] == "/mnt/ssl"
    (point_name, point), = synthesized.of_type("AWS::EFS::AccessPoint").items()
    assert point_name in referenced(mount["Arn"])
    assert point["Properties"]["RootDirectory"]["Path"] == "/"
    assert point["Properties"]["PosixUser"] == {"Uid": "0", "Gid": "0"}
    ssl_fs = next(iter(referenced(point["Properties"]["FileSystemId"])))
    assert ssl_fs.startswith("EfsFileSystemForSslFolder")
    assert env["SYNC_ENGINE"] == "datasync" and "SYNC_SOURCE_DIR" not in env
    assert next(iter(referenced(env["SYNC_DATASYNC_EFS_ARN"]))).startswith(
        "EfsFileSystemForSitesFolder")
    assert env["SYNC_DATASYNC_EFS_SUBDIRECTORY"] == "/"
    assert env["RDS_EXPORT_SOURCE"] == "cluster"
    assert referenced(env["RDS_EXPORT_CLUSTER_ARN"]) == referenced(env["RDS_EXPORT_CLUSTER_ID"])
    # the function may reach both file systems over NFS (its own and DataSync's group)
    ingress = [r["Properties"] for r in synthesized.of_type("AWS::EC2::SecurityGroupIngress").values()]
    assert len(ingress) == 2 and all(i["FromPort"] == 2049 for i in ingress)


def _statements(synth: Synthesized) -> list[dict[str, Any]]:
    """Every statement of the IAM roles and policies the template creates."""
    found: list[dict[str, Any]] = []
    for resource in synth.resources.values():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::IAM::Role":
            for policy in props.get("Policies", []):
                found += policy["PolicyDocument"]["Statement"]
        elif resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            found += props["PolicyDocument"]["Statement"]
    return found


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else actions


def test_iam_has_no_wildcard_actions_and_only_the_documented_wildcard_resources(
        synthesized: Synthesized) -> None:
    statements = _statements(synthesized)
    assert len(statements) > 30
    for statement in statements:
        assert statement["Effect"] == "Allow", statement
        assert not any("*" in action for action in _actions(statement)), statement
    wildcard = {s.get("Sid"): _actions(s) for s in statements if s["Resource"] == "*"}
    assert set(wildcard) == {"RekognitionHasNoResourceLevelPermissions",
                             "SesReceiptRuleSetsHaveNoResourceLevelPermissions",
                             "ExportTasksHaveNoResourceLevelPermissions",
                             "DataSyncCreateAndListHaveNoResourceLevelPermissions"}
    docs = README.read_text()
    for actions in wildcard.values():
        for action in actions:
            assert f"`{action}`" in docs, f"{action} is granted on * but not listed in the README"


def _sam_statements() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if "Effect" in value and "Action" in value and "Sid" in value:
                found[value["Sid"]] = set(_actions(value))
            for inner in value.values():
                walk(inner)
        elif isinstance(value, list):
            for inner in value:
                walk(inner)

    walk(load_template(SAM_TEMPLATE)["Resources"])
    return found


def _role_policies(policies: list[Any], conditional: bool) -> dict[str, set[str]]:
    """Actions per policy name; ``conditional=False`` keeps only what no ``Fn::If`` switches off."""
    found: dict[str, set[str]] = {}

    def walk(value: Any, into: set[str]) -> None:
        if isinstance(value, dict):
            if "Fn::If" in value:
                if conditional:
                    walk(value["Fn::If"][1], into)
                return
            if "Effect" in value and "Action" in value:
                into.update(_actions(value))
            for inner in value.values():
                walk(inner, into)
        elif isinstance(value, list):
            for inner in value:
                walk(inner, into)

    for entry in policies:
        policy = entry["Fn::If"][1] if "Fn::If" in entry else entry
        if "Fn::If" in entry and not conditional:
            continue
        walk(policy["PolicyDocument"], found.setdefault(policy["PolicyName"], set()))
    return found


def test_the_same_statements_as_the_sam_template(synthesized: Synthesized) -> None:
    """Both are made from the routes' declarations: statement by statement (by Sid) the construct
    grants what the SAM template grants, and domain by domain it grants every action the template
    always grants and none the template never grants."""
    sam = _sam_statements()
    cdk = {s["Sid"]: set(_actions(s)) for s in _statements(synthesized) if "Sid" in s}
    assert len(cdk) >= 15 and set(cdk) <= set(sam)
    for sid, actions in cdk.items():
        assert actions == sam[sid], sid
    sam = load_template(SAM_TEMPLATE)["Resources"]
    function = synthesized.resources[_function(synthesized)]["Properties"]
    env = function["Environment"]["Variables"]
    (routes_role,) = referenced(env["OPSFN_ROUTES_ROLE_ARN"])
    (role,) = referenced(function["Role"])
    pairs = [("RoutesRole", routes_role), ("OpsFunctionRole", role)]
    construct = {}
    for sam_role, cdk_role in pairs:  # the routes' grants to the routes role, the framework's not
        mine = _role_policies(synthesized.resources[cdk_role]["Properties"]["Policies"], True)
        assert not set(construct) & set(mine)
        construct.update({name: (sam_role, actions) for name, actions in mine.items()})
    domains = {"imaging", "incidents", "database", "etl", "ses", "exports"}
    assert domains <= {n for n, (where, _) in construct.items() if where == "RoutesRole"}
    assert {n for n, (where, _) in construct.items() if where == "OpsFunctionRole"} == {
        "logs", "core", "framework"}  # the file systems' are policies of their own
    for name in domains | {"framework"}:
        sam_role, actions = construct[name]
        policies = sam[sam_role]["Properties"]["Policies"]
        every, always = (_role_policies(policies, c) for c in (True, False))
        assert actions <= every[name], name
        assert always.get(name, set()) <= actions, name


def test_the_same_session_policies_as_the_sam_template(synthesized: Synthesized) -> None:
    """Managed session policies for the same domains, named to the function the same way."""
    sam = load_template(SAM_TEMPLATE)
    managed = set(synthesized.of_type("AWS::IAM::ManagedPolicy"))
    sam_managed = {n for n, r in sam["Resources"].items() if r["Type"] == "AWS::IAM::ManagedPolicy"}
    assert sam_managed and len(managed) == len(sam_managed)
    assert not any({"Roles", "Users", "Groups"} & set(r["Properties"])
                   for r in synthesized.of_type("AWS::IAM::ManagedPolicy").values())
    assert all(len([n for n in managed if name in n]) == 1 for name in sam_managed), managed
    env = synthesized.resources[_function(synthesized)]["Properties"]["Environment"]["Variables"]
    delimiter, parts = env["OPSFN_SESSION_POLICIES"]["Fn::Join"]
    text = delimiter.join(p if isinstance(p, str) else "<arn>" for p in parts)
    assert all(set(referenced(p)) <= managed for p in parts if not isinstance(p, str))
    sam_value = declared_triggers(sam).env["OPSFN_SESSION_POLICIES"]
    sam_domains = {p["Fn::Join"][1][0].rstrip("=") for p in sam_value["Fn::Join"][1]}
    assert {part.split("=")[0] for part in text.split(",")} == sam_domains


def _sam_default(value: Any, parameters: dict[str, Any]) -> Any:
    """A literal, or the default of the parameter it refers to; None for anything else."""
    if isinstance(value, (str, int)):
        return str(value)
    if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in parameters:
        return str(parameters[value["Ref"]].get("Default"))
    return None


def test_the_environment_is_the_sam_templates(synthesized: Synthesized) -> None:
    """Every variable the template always sets is set, to the same value where the template's is
    a literal or a parameter's default (unless the example app configures it otherwise)."""
    env = synthesized.resources[_function(synthesized)]["Properties"]["Environment"]["Variables"]
    sam = load_template(SAM_TEMPLATE)
    sam_env = declared_triggers(sam).env
    assert set(env) <= set(sam_env)
    configured = {"RDS_EXPORT_SOURCE": "cluster", "SYNC_ENGINE": "datasync"}  # by infra/cdk/app.py
    plain = {name: _sam_default(value, sam["Parameters"]) for name, value in sam_env.items()
             if not (isinstance(value, dict) and "Fn::If" in value)}
    assert set(plain) <= set(env), sorted(set(plain) - set(env))
    for name, value in plain.items():
        if value is not None:
            assert env[name] == configured.get(name, value), name
    assert {"LANDING_PREFIX", "OPSFN_CORS_MAX_AGE", "DB_ACTIVITY_SIGNALS"} <= set(plain)
    assert env["OPSFN_TRACING"] == "false"  # the template's default (Tracing: PassThrough)


def test_every_failure_reaches_the_alert_topic(synthesized: Synthesized) -> None:
    """The template's alarms, each to the alert topic; schedules park what they cannot deliver."""
    env = synthesized.resources[_function(synthesized)]["Properties"]["Environment"]["Variables"]
    topic = env["ALERT_TOPIC_ARN"]
    alarms = synthesized.of_type("AWS::CloudWatch::Alarm")
    assert len(alarms) == 7
    assert all(a["Properties"]["AlarmActions"] == [topic] for a in alarms.values())
    queues = {next(iter(referenced(s["Properties"]["Target"]["DeadLetterConfig"]["Arn"])))
              for s in synthesized.of_type("AWS::Scheduler::Schedule").values()}
    assert len(queues) == 1 and queues != referenced(env["OPSFN_FAILED_EVENTS_QUEUE"])


def test_no_cdk_helper_functions_or_default_custom_resources(synthesized: Synthesized) -> None:
    """CDK adds Lambda-backed helpers for some features (bucket notifications, log retention,
    the default security group, auto-delete); the stack uses none, so nothing else runs code."""
    kinds = {r["Type"] for r in synthesized.resources.values()}
    assert "AWS::CloudFormation::CustomResource" not in kinds
    assert not {k for k in kinds if k.startswith("Custom::")} - ROUTE_TYPES
    assert "AWS::Serverless::Function" not in kinds


def _http_auth(found: Declared) -> dict[tuple[str, str], str | None]:
    """Route key -> what callers need: the route's own authorization (CloudFormation) or what its
    authorizer (or the API's default) requires (SAM)."""
    return {key: trigger.effective or found.apis[trigger.api].kind(trigger.authorizer)
            for key, trigger in found.http.items()}


def _s3_triggers(found: Declared) -> set[tuple[frozenset[str], str, str, frozenset[str]]]:
    """Each S3 trigger by the settings naming its bucket (logical ids differ), keys and types."""
    def settings_of(bucket: str | None) -> frozenset[str]:
        return frozenset(name for name, value in found.env.items()
                         if bucket is not None and ref_target(value) == bucket)

    return {(settings_of(t.bucket), t.prefix, t.suffix, t.detail_types) for t in found.s3}


def test_the_same_triggers_as_the_sam_template(synthesized: Synthesized,
                                               transformed: dict[str, Any]) -> None:
    """Route for route: the HTTP routes with the same authorization, the same schedules, rules,
    S3 patterns and action queue mapping, with the same retries, as the SAM template's."""
    sam_template = load_template(SAM_TEMPLATE)
    sam, cdk = declared_triggers(sam_template), declared_triggers(synthesized.template)
    assert len(cdk.http) == 6 and _http_auth(cdk) == _http_auth(sam)
    assert set(_http_auth(cdk).values()) == {"public", "iam"}
    assert {n: e for n, (_, e) in cdk.schedules.items()} == \
        {n: e for n, (_, e) in sam.schedules.items()}
    assert set(cdk.eventbridge) == set(sam.eventbridge) and len(cdk.eventbridge) == 1
    assert _s3_triggers(cdk) == _s3_triggers(sam) and len(cdk.s3) == 2
    assert all(settings for settings, *_ in _s3_triggers(cdk))

    def of_type(resources: dict[str, Any], kind: str) -> list[dict[str, Any]]:
        return [r["Properties"] for r in resources.values() if r["Type"] == kind]

    sam_resources = transformed["Resources"]
    (sam_mapping,) = of_type(sam_resources, "AWS::Lambda::EventSourceMapping")
    (mapping,) = of_type(synthesized.resources, "AWS::Lambda::EventSourceMapping")
    for key in ("BatchSize", "FunctionResponseTypes"):
        assert mapping[key] == sam_mapping[key], key
    assert str(mapping["ScalingConfig"]["MaximumConcurrency"]) == _sam_default(
        sam_mapping["ScalingConfig"]["MaximumConcurrency"], sam_template["Parameters"])
    assert referenced(mapping["EventSourceArn"]) == referenced(cdk.env["OPSFN_ACTION_QUEUE"])

    def retries(resources: dict[str, Any]) -> set[tuple[str, str]]:
        """How each rule and schedule retries an invocation (each kind retries one way)."""
        targets = [("rule", t) for r in of_type(resources, "AWS::Events::Rule") for t in r["Targets"]]
        targets += [("schedule", s["Target"]) for s in of_type(resources, "AWS::Scheduler::Schedule")]
        return {(kind, json.dumps(t.get("RetryPolicy"), sort_keys=True)) for kind, t in targets}

    assert retries(synthesized.resources) == retries(sam_resources)
    assert len(retries(sam_resources)) == 2
    (config,) = of_type(synthesized.resources, "AWS::Lambda::EventInvokeConfig")
    (sam_config,) = of_type(sam_resources, "AWS::Lambda::EventInvokeConfig")
    for key in ("Qualifier", "MaximumRetryAttempts", "MaximumEventAgeInSeconds"):
        assert config[key] == sam_config[key], key


def test_every_trigger_invokes_the_alias_as_in_the_sam_template(
        synthesized: Synthesized, transformed: dict[str, Any]) -> None:
    """SAM's AutoPublishAlias points every event source at the alias ``live``; so does the
    construct: integrations, rules, schedules, the queue mapping, custom resources, the relay's
    Lambda action, every invoke permission and the asynchronous-invoke configuration."""
    alias = _alias(synthesized)
    (sam_alias,) = (r["Properties"] for r in transformed["Resources"].values()
                    if r["Type"] == "AWS::Lambda::Alias")
    assert sam_alias["Name"] == synthesized.resources[alias["Ref"]]["Properties"]["Name"] == "live"
    invoking: list[Any] = []
    for resource in synthesized.resources.values():
        props, kind = resource.get("Properties", {}), resource["Type"]
        if kind == "AWS::ApiGatewayV2::Integration":
            invoking.append(props["IntegrationUri"])
        elif kind == "AWS::Events::Rule":
            invoking += [t["Arn"] for t in props["Targets"]]
        elif kind == "AWS::Scheduler::Schedule":
            invoking.append(props["Target"]["Arn"])
        elif kind in ("AWS::Lambda::EventSourceMapping", "AWS::Lambda::Permission"):
            invoking.append(props["FunctionName"])
        elif kind.startswith("Custom::"):
            invoking.append(props["ServiceToken"])
        elif kind == "AWS::SES::ReceiptRule":
            invoking += [a["LambdaAction"]["FunctionArn"] for a in props["Rule"]["Actions"]
                         if "LambdaAction" in a]
    # the integration the 6 routes share and a permission per route, 3 rules (target and
    # permission each), the schedules, the mapping, 3 custom resources, the relay rule and its
    # permission
    assert len(invoking) == 1 + 6 + 6 + len(app.registry.schedules) + 1 + 3 + 2
    assert all(referenced(value) == set(referenced(alias)) for value in invoking), invoking
    (config,) = synthesized.of_type("AWS::Lambda::EventInvokeConfig").values()
    assert config["Properties"]["Qualifier"] == "live"
    assert config["Properties"]["FunctionName"] == {"Ref": _function(synthesized)}
    scheduler_roles = {referenced(s["Properties"]["Target"]["RoleArn"]) for s in
                       synthesized.of_type("AWS::Scheduler::Schedule").values()}
    (role,) = (next(iter(r)) for r in scheduler_roles)
    invoke = next(s for p in synthesized.resources[role]["Properties"]["Policies"]
                  for s in p["PolicyDocument"]["Statement"] if s["Action"] == "lambda:InvokeFunction")
    assert alias in invoke["Resource"]  # an unqualified grant does not cover the alias


def test_api_access_logs_are_the_sam_templates(synthesized: Synthesized) -> None:
    """The example turns access logs on: the template's format (nothing a request carried or
    who sent it), into a log group of their own."""
    (stage,) = synthesized.of_type("AWS::ApiGatewayV2::Stage").values()
    settings = stage["Properties"]["AccessLogSettings"]
    api = load_template(SAM_TEMPLATE)["Resources"]["HttpApi"]["Properties"]
    _, sam_settings, _ = api["AccessLogSettings"]["Fn::If"]
    assert json.loads(settings["Format"]) == json.loads(sam_settings["Format"]) == FIELDS
    (group,) = referenced(settings["DestinationArn"])
    assert synthesized.resources[group]["Type"] == "AWS::Logs::LogGroup"
    assert synthesized.resources[group]["DeletionPolicy"] == "Delete"
    function_logs = synthesized.resources[_function(synthesized)]["Properties"]["LoggingConfig"]
    assert group not in referenced(function_logs)
