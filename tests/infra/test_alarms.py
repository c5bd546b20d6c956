"""Failures people can see, SnapStart behind an alias, and the operations parameters: what the
template declares, what SAM makes of it, and the drift check that keeps it so."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from opsfn.core.observability import UNDELIVERED_ANSWERS
from opsfn.handler import app
from opsfn.tooling.ops_rules import Checker, _operations_are_sound
from opsfn.tooling.template_reader import load_template


def _of_type(resources: dict[str, Any], kind: str) -> dict[str, Any]:
    return {name: res for name, res in resources.items() if res["Type"] == kind}


def test_every_failure_signal_alarms_to_the_alert_topic(template: dict[str, Any]) -> None:
    alarms = _of_type(template["Resources"], "AWS::CloudWatch::Alarm")
    watched = {}
    for name, alarm in alarms.items():
        props = alarm["Properties"]
        assert props["AlarmActions"] == [{"Ref": "AlertTopic"}], name
        assert props["TreatMissingData"] == "notBreaching", name
        stat = props if "MetricName" in props else props["Metrics"][0]["MetricStat"]["Metric"]
        dims = {d["Name"]: d["Value"] for d in stat["Dimensions"]}
        watched[name] = (stat["Namespace"], stat["MetricName"], json.dumps(dims, sort_keys=True))
    function = json.dumps({"FunctionName": {"Ref": "OpsFunction"}})
    assert watched["FunctionErrorsAlarm"] == ("AWS/Lambda", "Errors", function)
    assert watched["FunctionThrottlesAlarm"] == ("AWS/Lambda", "Throttles", function)
    assert watched["FunctionDurationAlarm"] == ("AWS/Lambda", "Duration", function)
    for alarm, queue in (("FailedEventsAlarm", "FailedEventsQueue"),
                         ("ActionDeadLetterAlarm", "ActionDeadLetterQueue"),
                         ("ScheduleDeadLetterAlarm", "ScheduleDeadLetterQueue")):
        assert watched[alarm] == ("AWS/SQS", "ApproximateNumberOfMessagesVisible", json.dumps(
            {"QueueName": {"Fn::GetAtt": [queue, "QueueName"]}}))
        assert alarms[alarm]["Properties"]["Threshold"] == 1  # any message at all
    env = template["Resources"]["OpsFunction"]["Properties"]["Environment"]["Variables"]
    assert watched["UndeliveredAnswersAlarm"] == (
        env["POWERTOOLS_METRICS_NAMESPACE"], UNDELIVERED_ANSWERS,
        json.dumps({"service": env["POWERTOOLS_SERVICE_NAME"]}))
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == {"Ref": "MetricsNamespace"}
    assert env["POWERTOOLS_SERVICE_NAME"] == {"Ref": "ServiceName"}


def test_the_duration_alarm_is_relative_to_the_timeout(template: dict[str, Any]) -> None:
    props = template["Resources"]["FunctionDurationAlarm"]["Properties"]
    expression = next(m for m in props["Metrics"] if "Expression" in m)
    assert expression["Expression"] == {"Fn::Sub": "duration / (${FunctionTimeout} * 1000)"}
    assert props["Threshold"] == 0.9
    assert props["Metrics"][0]["MetricStat"]["Stat"] == "Maximum"


def test_schedules_have_a_dead_letter_queue_their_role_may_use(transformed: dict[str, Any]) -> None:
    resources = transformed["Resources"]
    schedules = _of_type(resources, "AWS::Scheduler::Schedule")
    assert len(schedules) == len(app.registry.schedules)
    for schedule in schedules.values():
        target = schedule["Properties"]["Target"]
        assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["ScheduleDeadLetterQueue",
                                                                     "Arn"]}}
        assert target["Arn"] == {"Ref": "OpsFunctionAliaslive"}
    statements = resources["SchedulerRole"]["Properties"]["Policies"][0]["PolicyDocument"][
        "Statement"]
    assert {"Effect": "Allow", "Action": "sqs:SendMessage",
            "Resource": {"Fn::GetAtt": ["ScheduleDeadLetterQueue", "Arn"]}} in statements
    invoke = next(s for s in statements if s["Action"] == "lambda:InvokeFunction")
    assert {"Ref": "OpsFunctionAliaslive"} in invoke["Resource"]


def test_snapstart_is_a_parameter_on_published_versions_behind_one_alias(
        template: dict[str, Any], transformed: dict[str, Any]) -> None:
    assert template["Parameters"]["SnapStart"]["Default"] == "Off"
    assert template["Parameters"]["SnapStart"]["AllowedValues"] == ["Off", "On"]
    resources = transformed["Resources"]
    function = resources["OpsFunction"]["Properties"]
    assert function["SnapStart"] == {"ApplyOn": {"Fn::If": ["UseSnapStart", "PublishedVersions",
                                                            "None"]}}
    assert transformed["Conditions"]["UseSnapStart"] == {"Fn::Equals": [{"Ref": "SnapStart"}, "On"]}
    (version,) = _of_type(resources, "AWS::Lambda::Version").values()
    (alias,) = _of_type(resources, "AWS::Lambda::Alias").values()
    assert alias["Properties"]["Name"] == "live"
    assert alias["Properties"]["FunctionVersion"]["Fn::GetAtt"][1] == "Version"
    assert version["Properties"]["FunctionName"] == {"Ref": "OpsFunction"}


def test_every_trigger_and_custom_resource_invokes_the_alias(transformed: dict[str, Any]) -> None:
    resources = transformed["Resources"]
    alias = {"Ref": "OpsFunctionAliaslive"}
    for mapping in _of_type(resources, "AWS::Lambda::EventSourceMapping").values():
        assert mapping["Properties"]["FunctionName"] == alias
    for rule in _of_type(resources, "AWS::Events::Rule").values():
        assert [t["Arn"] for t in rule["Properties"]["Targets"]] == [alias]
    for permission in _of_type(resources, "AWS::Lambda::Permission").values():
        assert permission["Properties"]["FunctionName"] == alias
    (invoke_config,) = _of_type(resources, "AWS::Lambda::EventInvokeConfig").values()
    assert invoke_config["Properties"]["Qualifier"] == "live"
    paths = resources["HttpApi"]["Properties"]["Body"]["paths"]
    for methods in paths.values():
        for method in methods.values():
            uri = method["x-amazon-apigateway-integration"]["uri"]["Fn::Sub"]
            assert "${OpsFunctionAliaslive}" in uri
    custom = [r for r in resources.values() if r["Type"].startswith("Custom::")]
    assert custom and all(r["Properties"]["ServiceToken"] == alias for r in custom)


def test_tracing_concurrency_and_access_logs_are_parameters(template: dict[str, Any],
                                                            transformed: dict[str, Any]) -> None:
    params = template["Parameters"]
    assert params["Tracing"]["AllowedValues"] == ["PassThrough", "Active"]
    assert params["ReservedConcurrency"]["Default"] == 0
    assert params["ApiAccessLogs"]["Default"] == "Off"
    function = transformed["Resources"]["OpsFunction"]["Properties"]
    assert function["TracingConfig"] == {"Mode": {"Ref": "Tracing"}}
    assert function["ReservedConcurrentExecutions"] == {"Fn::If": [
        "HasReservedConcurrency", {"Ref": "ReservedConcurrency"}, {"Ref": "AWS::NoValue"}]}
    env = function["Environment"]["Variables"]
    assert env["OPSFN_TRACING"] == {"Fn::If": ["HasTracing", "true", "false"]}
    core = next(p for p in transformed["Resources"]["OpsFunctionRole"]["Properties"]["Policies"]
                if p["PolicyName"] == "core")
    assert {"Fn::If": ["HasTracing", {
        "Sid": "XRayHasNoResourceLevelPermissions", "Effect": "Allow",
        "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], "Resource": "*"},
        {"Ref": "AWS::NoValue"}]} in core["PolicyDocument"]["Statement"]


def test_access_logs_carry_no_query_body_or_caller(transformed: dict[str, Any]) -> None:
    stage = _of_type(transformed["Resources"], "AWS::ApiGatewayV2::Stage")
    (settings,) = [s["Properties"]["AccessLogSettings"] for s in stage.values()]
    condition, on, off = settings["Fn::If"]
    assert condition == "HasAccessLogs" and off == {"Ref": "AWS::NoValue"}
    assert on["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    fields = json.loads(on["Format"])
    assert {"requestId", "routeKey", "status", "latencyMs"} <= set(fields)
    variables = " ".join(fields.values()).lower()
    for leak in ("querystring", "query", "body", "$context.path", "sourceip", "identity",
                 "useragent", "authorizer"):
        assert leak not in variables, leak
    group = transformed["Resources"]["ApiAccessLogGroup"]
    assert group["Condition"] == "HasAccessLogs"
    assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}


# -- the drift check covers them ------------------------------------------------------------------
def test_the_template_as_it_is_has_no_visibility_problems(template: dict[str, Any]) -> None:
    assert Checker(app, template).run() == []


@pytest.mark.parametrize("alarm", ["FunctionErrorsAlarm", "FunctionThrottlesAlarm",
                                   "FunctionDurationAlarm", "FailedEventsAlarm",
                                   "ActionDeadLetterAlarm", "ScheduleDeadLetterAlarm",
                                   "UndeliveredAnswersAlarm"])
def test_a_missing_alarm_is_drift(template: dict[str, Any], alarm: str) -> None:
    broken = copy.deepcopy(template)
    del broken["Resources"][alarm]
    problems = Checker(app, broken).run()
    assert len(problems) == 1 and problems[0].startswith("no alarm on"), problems


def test_an_alarm_to_nobody_or_in_another_namespace_is_drift(template: dict[str, Any]) -> None:
    broken = copy.deepcopy(template)
    broken["Resources"]["FunctionThrottlesAlarm"]["Properties"]["AlarmActions"] = []
    problems = Checker(app, broken).run()
    assert "alarm FunctionThrottlesAlarm does not notify the alert topic AlertTopic" in problems
    broken = copy.deepcopy(template)
    broken["Resources"]["UndeliveredAnswersAlarm"]["Properties"]["Namespace"] = "opsfn"
    assert any(UNDELIVERED_ANSWERS in p for p in Checker(app, broken).run())


def test_a_schedule_without_dead_letter_queue_is_drift(template: dict[str, Any]) -> None:
    broken = copy.deepcopy(template)
    events = broken["Resources"]["OpsFunction"]["Properties"]["Events"]
    del events["DatabaseAutoStop"]["Properties"]["DeadLetterConfig"]
    assert Checker(app, broken).run() == [
        "event DatabaseAutoStop: the schedule has no DeadLetterConfig"]


def test_a_custom_resource_past_the_alias_is_drift(template: dict[str, Any]) -> None:
    broken = copy.deepcopy(template)
    broken["Resources"]["SmtpCredential"]["Properties"]["ServiceToken"] = {
        "Fn::GetAtt": ["OpsFunction", "Arn"]}
    assert Checker(app, broken).run() == [
        "resource SmtpCredential: ServiceToken is the unqualified function; with "
        "AutoPublishAlias it must be !Ref OpsFunction.Alias"]


def test_snapstart_with_efs_is_refused_before_anything_is_created(
        template: dict[str, Any], transformed: dict[str, Any]) -> None:
    rule = transformed["Rules"]["SnapStartWithoutEfs"]  # SAM keeps it; CloudFormation checks it
    assert rule == template["Rules"]["SnapStartWithoutEfs"]
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "SnapStart"}, "On"]}
    (assertion,) = rule["Assertions"]
    assert assertion["Assert"] == {"Fn::And": [{"Fn::Equals": [{"Ref": "EfsFileSystemId"}, ""]},
                                               {"Fn::Equals": [{"Ref": "SslFileSystemId"}, ""]}]}
    assert "does not support EFS" in assertion["AssertDescription"]


# -- the operations parts: access logs, tracing, SnapStart, Duration, concurrency ----------------
CLINIC_TEMPLATE = Path(__file__).resolve().parents[2] / "examples" / "clinic-app" / "template.yaml"


def _operations_problems(template: dict[str, Any]) -> list[str]:
    """What the operations checks alone say (a template of another app has other routes)."""
    checker = Checker(app, template)
    _operations_are_sound(checker)
    return checker.problems


def _function(template: dict[str, Any]) -> dict[str, Any]:
    return template["Resources"]["OpsFunction"]["Properties"]  # type: ignore[no-any-return]


def test_the_shipped_templates_pass_the_operations_checks(template: dict[str, Any]) -> None:
    assert _operations_problems(template) == []
    assert _operations_problems(load_template(CLINIC_TEMPLATE)) == []


@pytest.mark.parametrize("variable", ["$context.identity.sourceIp", "$request.querystring.jobId",
                                      "$context.path", "$input.body", "$request.header.Authorization",
                                      "$context.authorizer.claims.sub",
                                      "$context.requestOverride.header.x"])
def test_an_access_log_that_writes_the_request_or_the_caller_is_drift(
        template: dict[str, Any], variable: str) -> None:
    broken = copy.deepcopy(template)
    on = broken["Resources"]["HttpApi"]["Properties"]["AccessLogSettings"]["Fn::If"][1]
    on["Format"] = on["Format"].removesuffix("}") + f',"leak":"{variable}"}}'
    assert Checker(app, broken).run() == [
        f"HttpApi AccessLogSettings: the access log format writes {variable}; access logs carry "
        "no query string, body, path, header or caller identity"]


def test_a_rest_stage_access_log_is_read_in_every_branch(template: dict[str, Any]) -> None:
    broken = copy.deepcopy(template)
    broken["Resources"]["RestStage"] = {"Type": "AWS::ApiGateway::Stage", "Properties": {
        "AccessLogSetting": {"DestinationArn": "arn:aws:logs:us-east-1:1:log-group:x",
                             "Format": {"Fn::If": ["HasAccessLogs", '{"id":"$context.requestId"}',
                                                   {"Fn::Sub": '{"ip":"$context.identity.caller",'
                                                               '"domain":"$context.domainPrefix"}'}]}}}}
    assert Checker(app, broken).run() == [
        "RestStage AccessLogSetting: the access log format writes $context.identity.caller; access "
        "logs carry no query string, body, path, header or caller identity"]


@pytest.mark.parametrize(("remove", "problem"), [
    ("Tracing", "function OpsFunction: OPSFN_TRACING depends on the template but the function has "
                "no Tracing (TracingConfig.Mode)"),
    ("OPSFN_TRACING", "function OpsFunction: tracing depends on the template but OPSFN_TRACING is "
                      "not in the function's environment")])
def test_tracing_on_a_parameter_needs_both_sides(template: dict[str, Any], remove: str,
                                                 problem: str) -> None:
    broken = copy.deepcopy(template)
    function = _function(broken)
    function.pop(remove, None)
    function["Environment"]["Variables"].pop(remove, None)
    assert Checker(app, broken).run() == [problem]


@pytest.mark.parametrize(("mode", "setting", "problem"), [
    ("PassThrough", "true", "function OpsFunction: OPSFN_TRACING is true but tracing is PassThrough "
                            "(Tracing: Active, TracingConfig.Mode: Active)"),
    ("Active", "false", "function OpsFunction: tracing is Active but OPSFN_TRACING is 'false' (set "
                        'it to "true")'),
    ("Active", None, "function OpsFunction: tracing is Active but OPSFN_TRACING is not set (set it "
                     'to "true")'),
    ("Active", "true", None)])
def test_literal_tracing_and_opsfn_tracing_agree(template: dict[str, Any], mode: str,
                                                 setting: str | None, problem: str | None) -> None:
    broken = copy.deepcopy(template)
    function = _function(broken)
    function["Tracing"] = mode
    del function["Environment"]["Variables"]["OPSFN_TRACING"]
    if setting is not None:
        function["Environment"]["Variables"]["OPSFN_TRACING"] = setting
    assert Checker(app, broken).run() == ([problem] if problem else [])


def test_active_tracing_needs_a_role_that_may_send_segments(template: dict[str, Any]) -> None:
    broken = copy.deepcopy(template)
    function = _function(broken)
    function["Tracing"] = "Active"
    function["Environment"]["Variables"]["OPSFN_TRACING"] = "true"
    core = next(p for p in broken["Resources"]["OpsFunctionRole"]["Properties"]["Policies"]
                if p["PolicyName"] == "core")
    statements = core["PolicyDocument"]["Statement"]
    statements[:] = [s for s in statements if "xray:PutTraceSegments" not in json.dumps(s)]
    assert Checker(app, broken).run() == [
        "function OpsFunction: tracing is Active but its role OpsFunctionRole does not allow "
        "xray:PutTraceSegments"]


def test_snapstart_with_efs_on_parameters_needs_the_rule(template: dict[str, Any]) -> None:
    broken = copy.deepcopy(template)
    del broken["Rules"]["SnapStartWithoutEfs"]
    assert Checker(app, broken).run() == [
        "function OpsFunction: SnapStart with FileSystemConfigs depends on parameters but no Rules "
        "entry refuses it (one naming ['SnapStart'] and ['EfsFileSystemId', 'SslFileSystemId', "
        "'SubnetIds']); Lambda SnapStart does not support EFS"]


def test_literal_snapstart_with_a_literal_mount_is_refused(template: dict[str, Any]) -> None:
    broken = copy.deepcopy(template)
    function = _function(broken)
    function["SnapStart"] = {"ApplyOn": "PublishedVersions"}
    assert Checker(app, broken).run() == []  # the mounts still depend on parameters: the rule
    function["FileSystemConfigs"] = [{"Arn": {"Fn::GetAtt": ["EfsAccessPoint", "Arn"]},
                                      "LocalMountPath": "/mnt/opsfn"}]
    assert Checker(app, broken).run() == [
        "function OpsFunction: SnapStart ApplyOn PublishedVersions with FileSystemConfigs; Lambda "
        "SnapStart does not support EFS"]


def test_a_duration_alarm_at_the_timeout_is_drift(template: dict[str, Any]) -> None:
    broken = copy.deepcopy(template)
    _function(broken)["Timeout"] = 900
    assert Checker(app, broken).run() == []  # the shipped alarm is a share of the timeout
    props = broken["Resources"]["FunctionDurationAlarm"]["Properties"]
    duration = props.pop("Metrics")[0]["MetricStat"]
    props.update(duration["Metric"], Statistic="Maximum", Period=300, Threshold=810000)
    assert Checker(app, broken).run() == []  # 90% of 900 s
    props["Threshold"] = 900000
    assert Checker(app, broken).run() == [
        "alarm FunctionDurationAlarm: Threshold 900000 ms is not below the function's Timeout of "
        "900 s; Lambda stops the invocation before the alarm can fire"]


def test_the_clinic_duration_alarm_is_compared_with_its_timeout() -> None:
    clinic = load_template(CLINIC_TEMPLATE)
    clinic["Resources"]["FunctionDurationAlarm"]["Properties"]["Threshold"] = 60000
    assert _operations_problems(clinic) == [
        "alarm FunctionDurationAlarm: Threshold 60000 ms is not below the function's Timeout of "
        "60 s; Lambda stops the invocation before the alarm can fire"]


def test_zero_reserved_concurrency_is_drift(template: dict[str, Any]) -> None:
    broken = copy.deepcopy(template)
    _function(broken)["ReservedConcurrentExecutions"] = 0
    assert Checker(app, broken).run() == [
        "function OpsFunction: ReservedConcurrentExecutions is 0, so every invocation is throttled "
        "(remove it or reserve at least 1)"]
