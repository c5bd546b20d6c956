"""Schedules, EventBridge rules and the action queue mapping, as infra/template.yaml declares them.

Schedules live in a schedule group of their own, so their names are the route names (the
function finds the route by the name in the schedule's ARN) and two stacks never collide. Each
schedule exists from the start, ``DISABLED`` until the feature it serves is configured; the
construct's helpers enable it. A schedule target without ``Input`` delivers Scheduler's own event
(``source: aws.scheduler``, the schedule ARN in ``resources``), which is what the function routes.

Every trigger here is given the function's alias (``OpsFunction.alias``): it invokes the published
version that alias names, as the SAM template's events do with ``AutoPublishAlias``.
"""

from __future__ import annotations

from collections.abc import Callable

from aws_cdk import Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from opsfn.cdk import policies
from opsfn.core.router import EventBridgeSpec, Route, S3Spec, ScheduleSpec, Setting
from opsfn.tooling.generate.events import camel


def create_schedules(scope: Construct, function: lambda_.IFunction, dead_letters: sqs.IQueue,
                     routes: list[Route], *, function_arn: str) -> dict[str, scheduler.CfnSchedule]:
    """The group, the role that may invoke only this function, and one schedule (disabled) per
    schedule route, each invoking ``function`` (the alias).

    The role may invoke the alias and the unqualified ``function_arn``, as the template's does.
    An invocation Scheduler could not deliver after its retries goes to ``dead_letters``.
    """
    group = scheduler.CfnScheduleGroup(scope, "ScheduleGroup")
    role = iam.Role(
        scope, "SchedulerRole",
        assumed_by=iam.PrincipalWithConditions(
            iam.ServicePrincipal("scheduler.amazonaws.com"),
            {"StringEquals": {"aws:SourceAccount": Stack.of(scope).account}}),
        inline_policies={"invoke-opsfn": iam.PolicyDocument(
            statements=policies.scheduler_role([function_arn, function.function_arn],
                                               dead_letters.queue_arn))})
    found: dict[str, scheduler.CfnSchedule] = {}
    for spec in (r.spec for r in routes if isinstance(r.spec, ScheduleSpec)):
        if spec.expression is None:
            raise ValueError(f"schedule {spec.name} has no expression to deploy")
        found[spec.name] = scheduler.CfnSchedule(
            scope, camel(spec.name), name=spec.name, group_name=group.ref,
            schedule_expression=spec.expression,
            state="DISABLED",
            flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
            target=scheduler.CfnSchedule.TargetProperty(
                arn=function.function_arn, role_arn=role.role_arn,
                retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(maximum_retry_attempts=3),
                dead_letter_config=scheduler.CfnSchedule.DeadLetterConfigProperty(
                    arn=dead_letters.queue_arn)))
    return found


def _rule(scope: Construct, id: str, function: lambda_.IFunction, failed_events: sqs.IQueue,
          pattern: events.EventPattern) -> events.Rule:
    """A rule targeting the function; undeliverable events go to the failed-events queue."""
    return events.Rule(scope, id, event_pattern=pattern, targets=[targets.LambdaFunction(
        function, dead_letter_queue=failed_events, retry_attempts=185,
        max_event_age=Duration.hours(24))])


def s3_object_created(bucket_name: str, *, prefix: str = "",
                      suffix: str = "") -> events.EventPattern:
    """The pattern of S3's EventBridge notification for new objects under prefix...suffix."""
    detail: dict[str, object] = {"bucket": {"name": [bucket_name]}}
    if prefix and suffix:
        detail["object"] = {"key": [{"wildcard": f"{prefix}*{suffix}"}]}
    elif prefix or suffix:
        detail["object"] = {"key": [{"prefix": prefix} if prefix else {"suffix": suffix}]}
    return events.EventPattern(source=["aws.s3"], detail_type=["Object Created"], detail=detail)


def create_rules(scope: Construct, function: lambda_.IFunction, failed_events: sqs.IQueue,
                 routes: list[Route], value_of: Callable[[str], str]) -> list[events.Rule]:
    """One rule per S3 route (its bucket the value of the setting that names it) and per
    EventBridge route, named as the SAM template names their events."""
    found: list[events.Rule] = []
    for route in routes:
        spec = route.spec
        if isinstance(spec, S3Spec):
            bucket = value_of(spec.bucket.variable) if isinstance(spec.bucket, Setting) \
                else spec.bucket
            found.append(_rule(scope, camel(route.func.__name__), function, failed_events,
                               s3_object_created(bucket, prefix=spec.prefix, suffix=spec.suffix)))
        elif isinstance(spec, EventBridgeSpec):
            pattern = events.EventPattern(
                source=[spec.source],
                detail_type=[spec.detail_type] if spec.detail_type else None)
            found.append(_rule(scope, camel(spec.detail_type or spec.source), function,
                               failed_events, pattern))
    return found


def action_queue_mapping(scope: Construct, function: lambda_.IFunction, queue: sqs.IQueue,
                         concurrency: int) -> lambda_.EventSourceMapping:
    """Work items of actions declared with queue=True, one at a time, failures per record.

    The consume permissions are in the role's ``core`` policy, created before the function (CDK's
    ``SqsEventSource`` would add a second, broader grant).
    """
    return lambda_.EventSourceMapping(
        scope, "ActionQueueMessages", target=function, event_source_arn=queue.queue_arn,
        batch_size=1, report_batch_item_failures=True, max_concurrency=concurrency)
