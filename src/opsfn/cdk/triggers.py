"""Schedules, EventBridge rules and the action queue mapping, as infra/template.yaml declares them.

Schedules live in a schedule group of their own, so their names are the route names (the
function finds the route by the name in the schedule's ARN) and two stacks never collide. Each
schedule exists from the start, ``DISABLED`` until the feature it serves is configured; the
construct's helpers enable it. A schedule target without ``Input`` delivers Scheduler's own event
(``source: aws.scheduler``, the schedule ARN in ``resources``), which is what the function routes.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from opsfn.cdk import policies


@dataclass(frozen=True, slots=True)
class ScheduleRow:
    id: str
    name: str
    expression: str


SCHEDULES: tuple[ScheduleRow, ...] = (
    ScheduleRow("RotateSslMaterials", "rotate-ssl-materials", "rate(2 days)"),
    ScheduleRow("DatabaseAutoStop", "database-auto-stop", "rate(5 minutes)"),
    ScheduleRow("ExportRdsSnapshot", "export-rds-snapshot", "cron(0 4 * * ? *)"),
    ScheduleRow("SyncEfsToS3", "sync-efs-to-s3", "rate(1 day)"),
    ScheduleRow("FinishSmtpRotation", "finish-smtp-rotation", "rate(1 hour)"),
    ScheduleRow("EtlScheduledRun", "etl-scheduled-run", "rate(1 hour)"),
)


def create_schedules(scope: Construct, function: lambda_.IFunction, dead_letters: sqs.IQueue
                     ) -> dict[str, scheduler.CfnSchedule]:
    """The group, the role that may invoke only this function, and every schedule (disabled).

    An invocation Scheduler could not deliver after its retries goes to ``dead_letters``.
    """
    group = scheduler.CfnScheduleGroup(scope, "ScheduleGroup")
    role = iam.Role(
        scope, "SchedulerRole",
        assumed_by=iam.PrincipalWithConditions(
            iam.ServicePrincipal("scheduler.amazonaws.com"),
            {"StringEquals": {"aws:SourceAccount": Stack.of(scope).account}}),
        inline_policies={"invoke-opsfn": iam.PolicyDocument(
            statements=policies.scheduler_role(function.function_arn, dead_letters.queue_arn))})
    found: dict[str, scheduler.CfnSchedule] = {}
    for row in SCHEDULES:
        found[row.name] = scheduler.CfnSchedule(
            scope, row.id, name=row.name, group_name=group.ref, schedule_expression=row.expression,
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


def s3_object_created(bucket: s3.IBucket, *, prefix: str = "",
                      suffix: str = "") -> events.EventPattern:
    """The pattern of S3's EventBridge notification for new objects under prefix...suffix."""
    key: list[dict[str, str]] = []
    if prefix:
        key.append({"prefix": prefix})
    if suffix:
        key.append({"suffix": suffix})
    detail: dict[str, object] = {"bucket": {"name": [bucket.bucket_name]}}
    if key:
        detail["object"] = {"key": key}
    return events.EventPattern(source=["aws.s3"], detail_type=["Object Created"], detail=detail)


def create_rules(scope: Construct, function: lambda_.IFunction, failed_events: sqs.IQueue, *,
                 upload: s3.IBucket, landing: s3.IBucket) -> list[events.Rule]:
    """Uploaded images, landed FHIR files (JSON, arrays, NDJSON) and Glue job state changes."""
    return [
        _rule(scope, "UploadedImage", function, failed_events,
              s3_object_created(upload, prefix="uploads/")),
        # every object of the landing bucket: the function matches LANDING_PREFIX and the
        # suffix settings itself, so a changed layout needs no new rule
        _rule(scope, "LandedFhirFile", function, failed_events, s3_object_created(landing)),
        _rule(scope, "GlueJobStateChange", function, failed_events,
              events.EventPattern(source=["aws.glue"], detail_type=["Glue Job State Change"])),
    ]


def action_queue_mapping(scope: Construct, function: lambda_.IFunction, queue: sqs.IQueue,
                         concurrency: int) -> lambda_.EventSourceMapping:
    """Work items of actions declared with queue=True, one at a time, failures per record.

    The consume permissions are in the role's ``core`` policy, created before the function (CDK's
    ``SqsEventSource`` would add a second, broader grant).
    """
    return lambda_.EventSourceMapping(
        scope, "ActionQueueMessages", target=function, event_source_arn=queue.queue_arn,
        batch_size=1, report_batch_item_failures=True, max_concurrency=concurrency)
