"""``opsfn infra check`` on plain CloudFormation: each way a CDK template can drift is reported.

Each test breaks one thing in a copy of the synthesized example and expects the check to say
what and where; the unbroken template has no drift (test_example_app.py).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from opsfn.handler import app
from opsfn.tooling.infra_check import Checker, find_function, referenced

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


def _route(template: Template, key: str) -> dict[str, Any]:
    return next(r["Properties"] for r in _of_type(template, "AWS::ApiGatewayV2::Route").values()
                if r["Properties"]["RouteKey"] == key)


def test_cdk_default_custom_resource_type_is_refused(broken: Any) -> None:
    def default_type(template: Template) -> None:
        for resource in template["Resources"].values():
            if resource["Type"] == "Custom::SslMaterials":
                resource["Type"] = "AWS::CloudFormation::CustomResource"

    problems = broken(default_type)
    assert any("no Custom::SslMaterials resource" in p for p in problems)
    assert any("AWS::CloudFormation::CustomResource has no custom resource route (CDK's default "
               "type" in p for p in problems)


def test_a_custom_resource_served_by_another_function_does_not_count(broken: Any) -> None:
    def other_token(template: Template) -> None:
        for resource in template["Resources"].values():
            if resource["Type"] == "Custom::SmtpCredential":
                resource["Properties"]["ServiceToken"] = "arn:aws:lambda:us-east-1:1:function:x"

    assert any("no Custom::SmtpCredential resource whose ServiceToken" in p
               for p in broken(other_token))


def test_a_public_route_where_the_route_wants_the_default_authorizer(broken: Any) -> None:
    def open_up(template: Template) -> None:
        _route(template, "POST /database/start")["AuthorizationType"] = "NONE"

    (problem,) = broken(open_up)
    assert "POST /database/start" in problem and "AuthorizationType NONE" in problem


def test_a_signed_route_where_the_route_is_public(broken: Any) -> None:
    def lock(template: Template) -> None:
        _route(template, "GET /health")["AuthorizationType"] = "AWS_IAM"

    (problem,) = broken(lock)
    assert "declares auth 'public'" in problem and "admits iam" in problem


def test_a_jwt_route_while_the_function_defaults_to_iam(broken: Any) -> None:
    def jwt(template: Template) -> None:
        _route(template, "GET /database/status")["AuthorizationType"] = "JWT"

    problems = broken(jwt)
    assert any("not a JWT authorizer" in p for p in problems)


def test_a_missing_route_and_a_route_reaching_nothing(broken: Any) -> None:
    def move(template: Template) -> None:
        _route(template, "GET /get-results")["RouteKey"] = "GET /nowhere"

    problems = broken(move)
    assert any("no HttpApi/Api event GET /get-results" in p for p in problems)
    assert any("GET /nowhere reaches no HTTP route" in p for p in problems)


def test_a_rule_without_its_lambda_permission(broken: Any) -> None:
    def drop(template: Template) -> None:
        resources = template["Resources"]
        rule = next(n for n, r in _of_type(template, "AWS::Events::Rule").items()
                    if r["Properties"]["EventPattern"]["source"] == ["aws.glue"])
        for name, permission in _of_type(template, "AWS::Lambda::Permission").items():
            if rule in referenced(permission["Properties"].get("SourceArn")):
                del resources[name]

    (problem,) = broken(drop)
    assert "no AWS::Lambda::Permission lets events.amazonaws.com invoke" in problem


def test_api_routes_need_apigateway_permissions(broken: Any) -> None:
    def drop(template: Template) -> None:
        for name, permission in _of_type(template, "AWS::Lambda::Permission").items():
            if permission["Properties"]["Principal"] == "apigateway.amazonaws.com":
                del template["Resources"][name]

    problems = broken(drop)
    assert len(problems) == 6
    assert all("apigateway.amazonaws.com" in p for p in problems)


def test_a_rule_pattern_that_misses_the_prefix(broken: Any) -> None:
    def widen(template: Template) -> None:
        for rule in _of_type(template, "AWS::Events::Rule").values():
            detail = rule["Properties"]["EventPattern"].get("detail", {})
            if detail.get("object") == {"key": [{"prefix": "uploads/"}]}:
                detail["object"] = {"key": [{"prefix": "other/"}]}

    problems = broken(widen)
    assert any("no S3 trigger on" in p and "'uploads/'" in p for p in problems)
    assert any("reach no S3 route" in p for p in problems)


def test_the_action_queue_mapping_without_partial_batch_failures(broken: Any) -> None:
    def whole_batch(template: Template) -> None:
        for mapping in _of_type(template, "AWS::Lambda::EventSourceMapping").values():
            del mapping["Properties"]["FunctionResponseTypes"]

    problems = broken(whole_batch)
    assert problems and all("lacks ReportBatchItemFailures" in p for p in problems)


def test_a_schedule_renamed_or_retimed(broken: Any) -> None:
    def rename(template: Template) -> None:
        for schedule in _of_type(template, "AWS::Scheduler::Schedule").values():
            props = schedule["Properties"]
            if props["Name"] == "etl-scheduled-run":
                props["Name"] = "EtlScheduledRun"
            if props["Name"] == "rotate-ssl-materials":
                props["ScheduleExpression"] = "rate(1 day)"

    problems = broken(rename)
    assert any("no schedule named 'etl-scheduled-run'" in p for p in problems)
    assert any("'EtlScheduledRun' reaches no route" in p for p in problems)
    assert any("rotate-ssl-materials" in p and "rate(1 day)" in p for p in problems)


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


def test_a_schedule_whose_role_may_not_invoke(broken: Any) -> None:
    def strip(template: Template) -> None:
        role = next(iter(referenced(next(iter(_of_type(
            template, "AWS::Scheduler::Schedule").values()))["Properties"]["Target"]["RoleArn"])))
        template["Resources"][role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"][0][
            "Resource"] = "arn:aws:lambda:us-east-1:111111111111:function:other"

    problems = broken(strip)
    assert len(problems) == 6 and all("may not lambda:InvokeFunction" in p for p in problems)


def test_the_relay_rule_must_store_before_invoking(broken: Any) -> None:
    def no_store(template: Template) -> None:
        for rule in _of_type(template, "AWS::SES::ReceiptRule").values():
            actions = rule["Properties"]["Rule"]["Actions"]
            rule["Properties"]["Rule"]["Actions"] = [a for a in actions if "S3Action" not in a]

    (problem,) = broken(no_store)
    assert "no S3Action before its LambdaAction" in problem


def test_sns_subscriptions_are_read_as_sns_triggers(broken: Any) -> None:
    def subscribe(template: Template) -> None:
        function = next(iter(_of_type(template, "AWS::Lambda::Function")))
        template["Resources"]["StrayTopic"] = {"Type": "AWS::SNS::Topic"}
        template["Resources"]["StraySubscription"] = {
            "Type": "AWS::SNS::Subscription",
            "Properties": {"Protocol": "lambda", "TopicArn": {"Ref": "StrayTopic"},
                           "Endpoint": {"Fn::GetAtt": [function, "Arn"]}}}

    problems = broken(subscribe)
    assert any("topic StrayTopic reaches no SNS route" in p for p in problems)
    assert any("subscription StraySubscription: no AWS::Lambda::Permission lets sns.amazonaws.com"
               in p for p in problems)



# -- the operations parts, as CDK writes them ------------------------------------------------------
def _function(template: Template) -> tuple[str, dict[str, Any]]:
    name = find_function(template["Resources"])
    return name, template["Resources"][name]["Properties"]


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


def test_a_custom_resource_past_the_alias_is_drift(broken: Any) -> None:
    def unqualified(template: Template) -> None:
        function = find_function(template["Resources"])
        for resource in template["Resources"].values():
            if resource["Type"] == "Custom::SslMaterials":
                resource["Properties"]["ServiceToken"] = {"Fn::GetAtt": [function, "Arn"]}

    (problem,) = broken(unqualified)
    assert "ServiceToken is the unqualified function; with the alias live it must be the alias" \
        in problem


def test_a_rule_past_the_alias_is_drift_and_the_alias_permission_does_not_cover_it(
        broken: Any) -> None:
    def unqualified(template: Template) -> None:
        function = find_function(template["Resources"])
        for rule in _of_type(template, "AWS::Events::Rule").values():
            if rule["Properties"]["EventPattern"]["source"] == ["aws.glue"]:
                rule["Properties"]["Targets"][0]["Arn"] = {"Fn::GetAtt": [function, "Arn"]}

    problems = broken(unqualified)
    assert len(problems) == 2
    assert any("target Arn is the unqualified function" in p for p in problems)
    assert any("no AWS::Lambda::Permission lets events.amazonaws.com invoke" in p
               for p in problems)
