"""``opsfn infra check`` on plain CloudFormation: each operations rule a CDK template can break.

Each test breaks one thing in a copy of the synthesized example and expects the check to say
what and where; the unbroken template follows every rule (test_example_app.py). The triggers
and the route IAM are made from the registry by the construct, so they are not checked here
(test_example_app.py compares them with the routes and with the SAM template).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from opsfn.handler import app
from opsfn.tooling.ops_rules import Checker
from opsfn.tooling.template_reader import find_function, referenced

from .conftest import Synthesized

Template = dict[str, Any]


@pytest.fixture
def broken(synthesized: Synthesized) -> Callable[[Callable[[Template], None]], list[str]]:
    """Apply a change to a copy of the template and return the check's problems."""
    def run(change: Callable[[Template], None]) -> list[str]:
        template = copy.deepcopy(synthesized.template)
        change(template)
        return Checker(app, template).run()

    assert run(lambda template: None) == []
    return run


def _of_type(template: Template, kind: str) -> dict[str, Any]:
    return {n: r for n, r in template["Resources"].items() if r["Type"] == kind}


def _function(template: Template) -> tuple[str, dict[str, Any]]:
    name = find_function(template["Resources"])
    return name, template["Resources"][name]["Properties"]


def test_a_schedule_without_its_dead_letter_queue(broken: Any) -> None:
    def drop(template: Template) -> None:
        for schedule in _of_type(template, "AWS::Scheduler::Schedule").values():
            if schedule["Properties"]["Name"] == "sync-efs-to-s3":
                del schedule["Properties"]["Target"]["DeadLetterConfig"]

    problems = broken(drop)
    assert len(problems) == 1 and "the schedule has no DeadLetterConfig" in problems[0]


def test_failures_nobody_is_told_of(broken: Any) -> None:
    def silence(template: Template) -> None:
        for name, alarm in list(_of_type(template, "AWS::CloudWatch::Alarm").items()):
            props = alarm["Properties"]
            if props.get("MetricName") == "Throttles":
                del template["Resources"][name]
            elif props.get("MetricName") == "CustomResourceAnswersUndelivered":
                props["AlarmActions"] = []

    problems = broken(silence)
    assert "no alarm on the function's Throttles (AWS/Lambda)" in problems
    assert any(p.startswith("alarm ") and "does not notify the alert topic" in p for p in problems)
    assert any("no alarm on CustomResourceAnswersUndelivered" in p for p in problems)
    assert len(problems) == 3


def test_the_relay_rule_must_store_before_invoking(broken: Any) -> None:
    def no_store(template: Template) -> None:
        for rule in _of_type(template, "AWS::SES::ReceiptRule").values():
            actions = rule["Properties"]["Rule"]["Actions"]
            rule["Properties"]["Rule"]["Actions"] = [a for a in actions if "S3Action" not in a]

    (problem,) = broken(no_store)
    assert "no S3Action before its LambdaAction" in problem


def test_a_stage_access_log_that_writes_the_caller_in_one_branch(
        broken: Any, synthesized: Synthesized) -> None:
    (stage,) = synthesized.of_type("AWS::ApiGatewayV2::Stage")

    def log(template: Template) -> None:
        template["Resources"][stage]["Properties"]["AccessLogSettings"] = {
            "DestinationArn": "arn:aws:logs:us-east-1:111111111111:log-group:access",
            "Format": {"Fn::If": ["Verbose", '{"ip":"$context.identity.sourceIp",'
                                             '"q":"$request.querystring.jobId"}',
                                  '{"id":"$context.requestId","at":"$context.domainPrefix"}']}}

    assert broken(log) == [
        f"{stage} AccessLogSettings: the access log format writes $context.identity.sourceIp, "
        "$request.querystring.jobId; access logs carry no query string, body, path, header or "
        "caller identity"]


def test_opsfn_tracing_without_lambda_tracing(broken: Any, synthesized: Synthesized) -> None:
    function, _ = _function(synthesized.template)

    def tracer_only(template: Template) -> None:
        _function(template)[1]["Environment"]["Variables"]["OPSFN_TRACING"] = "true"

    def lambda_only(template: Template) -> None:
        _function(template)[1]["TracingConfig"] = {"Mode": "Active"}

    assert broken(tracer_only) == [
        f"function {function}: OPSFN_TRACING is true but tracing is PassThrough (Tracing: Active, "
        "TracingConfig.Mode: Active)"]
    assert broken(lambda_only) == [
        f"function {function}: tracing is Active but OPSFN_TRACING is 'false' (set it to \"true\")"]


def test_active_tracing_without_xray_in_the_role(broken: Any, synthesized: Synthesized) -> None:
    function, props = _function(synthesized.template)
    role = referenced(props["Role"])

    def both(template: Template) -> None:
        _function(template)[1]["TracingConfig"] = {"Mode": "Active"}
        _function(template)[1]["Environment"]["Variables"]["OPSFN_TRACING"] = "true"

    def both_and_allowed(template: Template) -> None:
        both(template)
        template["Resources"]["XRayPolicy"] = {"Type": "AWS::IAM::Policy", "Properties": {
            "PolicyName": "xray", "Roles": [{"Ref": next(iter(role))}], "PolicyDocument": {
                "Statement": [{"Effect": "Allow", "Action": ["xray:PutTraceSegments",
                                                             "xray:PutTelemetryRecords"],
                               "Resource": "*"}]}}}

    assert broken(both) == [f"function {function}: tracing is Active but its role "
                            f"{next(iter(role))} does not allow xray:PutTraceSegments"]
    assert broken(both_and_allowed) == []


def test_snapstart_on_a_function_that_mounts_efs(broken: Any, synthesized: Synthesized) -> None:
    function, props = _function(synthesized.template)
    assert props["FileSystemConfigs"]  # the example mounts the SSL file system

    def snapstart(template: Template) -> None:
        _function(template)[1]["SnapStart"] = {"ApplyOn": "PublishedVersions"}

    assert broken(snapstart) == [f"function {function}: SnapStart ApplyOn PublishedVersions with "
                                 "FileSystemConfigs; Lambda SnapStart does not support EFS"]


def test_a_duration_alarm_in_milliseconds_past_the_timeout(broken: Any) -> None:
    def milliseconds(threshold: int) -> Callable[[Template], None]:
        def change(template: Template) -> None:
            (props,) = (a["Properties"] for a in _of_type(template, "AWS::CloudWatch::Alarm").values()
                        if "Metrics" in a["Properties"])
            (duration,) = (m for m in props.pop("Metrics") if "MetricStat" in m)
            props.update(duration["MetricStat"]["Metric"], Statistic="Maximum", Period=300,
                         Threshold=threshold)
        return change

    assert broken(milliseconds(810000)) == []  # 90% of the example's 900 s
    (problem,) = broken(milliseconds(1000000))
    assert problem.startswith("alarm ") and problem.endswith(
        ": Threshold 1000000 ms is not below the function's Timeout of 900 s; Lambda stops the "
        "invocation before the alarm can fire")


def test_zero_reserved_concurrency(broken: Any, synthesized: Synthesized) -> None:
    function, _ = _function(synthesized.template)

    def zero(template: Template) -> None:
        _function(template)[1]["ReservedConcurrentExecutions"] = 0

    assert broken(zero) == [f"function {function}: ReservedConcurrentExecutions is 0, so every "
                            "invocation is throttled (remove it or reserve at least 1)"]


def test_a_custom_resource_past_the_alias_is_refused(broken: Any) -> None:
    def unqualified(template: Template) -> None:
        function = find_function(template["Resources"])
        for resource in template["Resources"].values():
            if resource["Type"] == "Custom::SslMaterials":
                resource["Properties"]["ServiceToken"] = {"Fn::GetAtt": [function, "Arn"]}

    (problem,) = broken(unqualified)
    assert "ServiceToken is the unqualified function; with the alias live it must be the alias" \
        in problem


def test_a_rule_past_the_alias_is_refused(broken: Any) -> None:
    def unqualified(template: Template) -> None:
        function = find_function(template["Resources"])
        for rule in _of_type(template, "AWS::Events::Rule").values():
            if rule["Properties"]["EventPattern"]["source"] == ["aws.glue"]:
                rule["Properties"]["Targets"][0]["Arn"] = {"Fn::GetAtt": [function, "Arn"]}

    (problem,) = broken(unqualified)
    assert "target Arn is the unqualified function; with the alias live it must be the alias" \
        in problem
