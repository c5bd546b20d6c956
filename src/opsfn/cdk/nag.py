"""The construct's answers to cdk-nag's AwsSolutions and HIPAA.Security packs.

cdk-nag 3 runs as a CDK policy-validation plugin and reads acknowledgements that
``Validations.of(scope).acknowledge`` records; each names one rule (one finding of a rule that
reports several) on one resource or on a scope above it, with the reason shown in the report.
Everything here is an acknowledgement of a finding that is a choice, not a defect: the defects
are fixed where the resource is made (TLS-only policies, point-in-time recovery), and the
stricter settings are options (``kms_key``, ``server_access_logs``, ``table_backups``) whose
findings are acknowledged only while the option is off. IAM findings are opsfn.cdk.nag_iam's.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import jsii
from aws_cdk import Acknowledgment, Aspects, IAspect, Stack, Validations
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import IConstruct

AWS = "AwsSolutions"
HIPAA = "HIPAA.Security"


def acknowledge(scope: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge ``rule`` (a pack's id, e.g. ``AwsSolutions-S1``) on ``scope`` and below."""
    Validations.of(scope).acknowledge(Acknowledgment(id=rule, reason=reason))


UNVERSIONED = ("Transient objects that expire by lifecycle; versions would keep deleted patient data "
               "past the expiry.")
KMS_OPTION = "a customer-managed key is the kms_key option (KmsKeyArn in the SAM template)."
DLQ_REASON = ("Asynchronous invocations that fail go to FailedEventsQueue, the EventInvokeConfig "
              "on-failure destination, which supersedes a function dead-letter queue.")
RUNTIME_REASON = ("python3.13 is the runtime the shipped package is locked for and tested under "
                  "(locks/, the Lambda-runtime tests); the next one comes with its own locks.")


@jsii.implements(IAspect)
class _ChoiceAcknowledgements:
    """Acknowledge, resource by resource, the findings of a setting that is an option left off
    or a decision of the construct; each reason is given only where the resource is as it says."""

    def __init__(self, *, options_off: frozenset[str], dead_letter_queues: frozenset[str]) -> None:
        self._off = options_off
        self._dead_letters = dead_letter_queues

    def visit(self, node: IConstruct) -> None:
        if isinstance(node, s3.CfnBucket):
            self._bucket(node)
        elif isinstance(node, dynamodb.CfnTable):
            self._table(node)
        elif isinstance(node, sqs.CfnQueue) and node.node.path in self._dead_letters:
            acknowledge(node, f"{AWS}-SQS3", "This queue is itself a dead-letter queue (failed "
                        "events, action and schedule dead letters); its messages are alarmed on.")
        elif isinstance(node, logs.CfnLogGroup) and node.kms_key_id is None:
            acknowledge(node, f"{HIPAA}-CloudWatchLogGroupEncrypted",
                        "CloudWatch Logs encrypts every log group at rest; " + KMS_OPTION)
        elif isinstance(node, lambda_.CfnFunction):
            self._function(node)
        elif isinstance(node, apigw.CfnRoute) and node.authorization_type == "NONE":
            acknowledge(node, f"{AWS}-APIG4", "The route is declared auth='public' (the health "
                        "check, the upload page's upload request, results by an unguessable job "
                        "id); the API throttles it and the function checks each request.")

    def _bucket(self, node: s3.CfnBucket) -> None:
        stack = Stack.of(node)
        is_log_bucket = node.node.scope is not None and node.node.scope.node.id == "AccessLogBucket"
        if node.logging_configuration is None:
            why = ("This is the server access log bucket; logging it would log its own writes."
                   if is_log_bucket else "Server access logs are the server_access_logs option "
                   "(ServerAccessLogs); CloudTrail S3 data events are the account-wide record.")
            acknowledge(node, f"{AWS}-S1", why)
            acknowledge(node, f"{HIPAA}-S3BucketLoggingEnabled", why)
        acknowledge(node, f"{HIPAA}-S3BucketReplicationEnabled",
                    "Cross-region replication needs a bucket the operator owns in another "
                    "region; the archive is versioned and retained, the other buckets are "
                    "transient.")
        if '"AES256"' in json.dumps(stack.resolve(node.bucket_encryption)):
            acknowledge(node, f"{HIPAA}-S3DefaultEncryptionKMS",
                        "S3 delivers server access logs only to an SSE-S3 bucket."
                        if is_log_bucket else "SSE-S3 (AES-256) encrypts every object; "
                        + KMS_OPTION)

    def _table(self, node: dynamodb.CfnTable) -> None:
        # a resolved struct comes back with camel-cased keys (pointInTimeRecoveryEnabled)
        recovery = json.dumps(Stack.of(node).resolve(node.point_in_time_recovery_specification))
        if '"pointintimerecoveryenabled": true' not in recovery.lower():
            why = ("Short-lived records (TTL): locks and idempotency markers; restoring them "
                   "would replay or block work, so there is nothing to recover.")
            acknowledge(node, f"{AWS}-DDB3", why)
            acknowledge(node, f"{HIPAA}-DynamoDBPITREnabled", why)
        if "table_backups" in self._off:
            acknowledge(node, f"{HIPAA}-DynamoDBInBackupPlan",
                        "Point-in-time recovery covers the tables worth restoring; an AWS Backup "
                        "plan is the table_backups option (TableBackups).")

    def _function(self, node: lambda_.CfnFunction) -> None:
        acknowledge(node, f"{AWS}-L1", RUNTIME_REASON)
        acknowledge(node, f"{HIPAA}-LambdaDLQ", DLQ_REASON)
        if node.reserved_concurrent_executions is None:
            acknowledge(node, f"{HIPAA}-LambdaConcurrency",
                        "Reserved concurrency is taken from the account's shared pool; it is the "
                        "reserved_concurrency option (ReservedConcurrency).")


def acknowledge_choices(scope: IConstruct, *, options_off: Iterable[str],
                        dead_letter_queues: Iterable[IConstruct]) -> None:
    """Acknowledge the findings of the options left off (``kms_key``, ``server_access_logs``,
    ``table_backups``) and of the construct's own decisions, on every resource under ``scope``."""
    paths = frozenset(f"{q.node.path}/Resource" for q in dead_letter_queues)
    Aspects.of(scope).add(_ChoiceAcknowledgements(options_off=frozenset(options_off),
                                                  dead_letter_queues=paths))
