"""Failures people can see, SnapStart behind an alias, and the operations parameters: what the
template declares, what SAM makes of it, and the drift check that keeps it so."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from opsfn.core.observability import UNDELIVERED_ANSWERS
from opsfn.handler import app
from opsfn.tooling.infra_check import Checker


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
