"""Alarms to the alert topic on every failure someone must look at, as infra/template.yaml has them.

The function's errors, throttles and near-timeouts; each queue where failed work waits (events
that failed after their retries, action work items that failed five times, schedule invocations
Scheduler could not deliver); and custom resource answers CloudFormation never received (the
stack then waits for its own timeout, so a person must look at once).
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from opsfn.core.observability import UNDELIVERED_ANSWERS

FIVE_MINUTES = Duration.minutes(5)
NEAR_TIMEOUT = 0.9  # an invocation that used 90% of its timeout is one bad day from failing


def _alarm(scope: Construct, id: str, topic: sns.ITopic, description: str,
           metric: cloudwatch.IMetric, *, threshold: float = 1) -> cloudwatch.Alarm:
    alarm = cloudwatch.Alarm(
        scope, id, metric=metric, threshold=threshold, evaluation_periods=1,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        alarm_description=f"{Stack.of(scope).stack_name}: {description}")
    alarm.add_alarm_action(actions.SnsAction(topic))
    return alarm


def create_alarms(scope: Construct, function: lambda_.IFunction, topic: sns.ITopic, *,
                  timeout: Duration, failure_queues: Mapping[str, tuple[sqs.IQueue, str]],
                  metrics_namespace: str, service_name: str) -> list[cloudwatch.Alarm]:
    """Every alarm; ``failure_queues`` maps an alarm id to (queue, what waits there)."""
    share_of_timeout = cloudwatch.MathExpression(
        expression=f"duration / ({timeout.to_seconds()} * 1000)", label="longest invocation / timeout",
        using_metrics={"duration": function.metric_duration(statistic="Maximum",
                                                            period=FIVE_MINUTES)},
        period=FIVE_MINUTES)
    found = [
        _alarm(scope, "FunctionErrorsAlarm", topic,
               "the function returned errors (a failed invocation, not a 4xx reply)",
               function.metric_errors(statistic="Sum", period=FIVE_MINUTES)),
        _alarm(scope, "FunctionThrottlesAlarm", topic,
               "invocations were throttled (concurrency limit)",
               function.metric_throttles(statistic="Sum", period=FIVE_MINUTES)),
        _alarm(scope, "FunctionDurationAlarm", topic,
               f"an invocation ran past {NEAR_TIMEOUT:.0%} of the {timeout.to_seconds()} s timeout",
               share_of_timeout, threshold=NEAR_TIMEOUT),
        _alarm(scope, "UndeliveredAnswersAlarm", topic,
               "a custom resource answer could not be delivered to CloudFormation",
               cloudwatch.Metric(namespace=metrics_namespace, metric_name=UNDELIVERED_ANSWERS,
                                 dimensions_map={"service": service_name}, statistic="Sum",
                                 period=Duration.minutes(1))),
    ]
    for id, (queue, what) in failure_queues.items():
        found.append(_alarm(scope, id, topic, what,
                            queue.metric_approximate_number_of_messages_visible(
                                statistic="Maximum", period=FIVE_MINUTES)))
    return found
