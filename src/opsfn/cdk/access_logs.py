"""HTTP API access logs, as the SAM template's ``ApiAccessLogs=On`` writes them.

An access log is kept for the log retention and read by whoever operates the stack, so it names
the request (id, time, method, route key) and how it ended (status, length, latencies) and nothing
a request carried or who sent it: no path or query string (``/get-results`` has the job id in its
query), body, header or caller address. ``opsfn infra check`` refuses a format that does.
"""

from __future__ import annotations

import json
from typing import cast

from aws_cdk import RemovalPolicy
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

# The fields of infra/base.yaml's AccessLogSettings Format (a test holds the two equal).
FIELDS: dict[str, str] = {
    "requestId": "$context.requestId", "requestTime": "$context.requestTimeEpoch",
    "method": "$context.httpMethod", "routeKey": "$context.routeKey",
    "status": "$context.status", "protocol": "$context.protocol",
    "responseLength": "$context.responseLength", "latencyMs": "$context.responseLatency",
    "integrationLatencyMs": "$context.integrationLatency",
    "integrationStatus": "$context.integrationStatus",
}
FORMAT = json.dumps(FIELDS, separators=(",", ":"))


def log_access(scope: Construct, api: apigw.HttpApi, *, retention: logs.RetentionDays,
               kms_key: kms.IKey | None = None) -> logs.LogGroup:
    """A log group (deleted with the stack, as the template's) and the API's default stage
    writing one line per request into it."""
    stage = api.default_stage
    if stage is None:
        raise ValueError("the HTTP API has no default stage to log")
    group = logs.LogGroup(scope, "ApiAccessLogs", retention=retention, encryption_key=kms_key,
                          removal_policy=RemovalPolicy.DESTROY)
    cast(apigw.CfnStage, stage.node.default_child).access_log_settings = \
        apigw.CfnStage.AccessLogSettingsProperty(destination_arn=group.log_group_arn,
                                                 format=FORMAT)
    return group
