"""Tables, buckets, queues and the alert topic, shaped as infra/template.yaml shapes them.

Every bucket and queue refuses plain HTTP. ``kms_key`` (the template's ``KmsKeyArn``) encrypts the
buckets, tables and queues with a customer-managed key instead of AWS-managed encryption, and
``server_access_logs`` (``ServerAccessLogs``) logs every bucket's requests into a log bucket.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from opsfn.cdk.nag import HIPAA, UNVERSIONED, acknowledge


@dataclass(frozen=True, slots=True)
class Storage:
    """What every deployment has besides the function."""

    jobs: dynamodb.Table
    idempotency: dynamodb.Table
    locks: dynamodb.Table
    audit: dynamodb.Table
    upload: s3.Bucket
    landing: s3.Bucket
    archive: s3.Bucket
    action_queue: sqs.Queue
    action_dead_letters: sqs.Queue
    failed_events: sqs.Queue
    schedule_dead_letters: sqs.Queue  # schedule invocations Scheduler could not deliver
    alert_topic: sns.Topic
    access_logs: s3.Bucket | None  # the server access log bucket, when on
    kms_key: kms.IKey | None  # the customer-managed key, when given


def table(scope: Construct, id: str, key: str, ttl: str | None, *, retain: bool = False,
          recoverable: bool = False, kms_key: kms.IKey | None = None) -> dynamodb.Table:
    """On-demand, encrypted, one string partition key; TTL attribute as the code writes it.

    Point-in-time recovery for the tables whose items are worth restoring (``recoverable``, and
    every retained table); short-lived records (locks, idempotency markers) are not.
    """
    return dynamodb.Table(
        scope, id, partition_key=dynamodb.Attribute(name=key, type=dynamodb.AttributeType.STRING),
        billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST, time_to_live_attribute=ttl,
        encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED if kms_key
        else dynamodb.TableEncryption.AWS_MANAGED, encryption_key=kms_key,
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True) if retain or recoverable else None,
        removal_policy=RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY)


def queue(scope: Construct, id: str, kms_key: kms.IKey | None, **options: Any) -> sqs.Queue:
    """SSE-SQS, or ``kms_key``; plain HTTP denied by the queue's policy."""
    encryption = ({"encryption": sqs.QueueEncryption.KMS, "encryption_master_key": kms_key}
                  if kms_key else {"encryption": sqs.QueueEncryption.SQS_MANAGED})
    return sqs.Queue(scope, id, enforce_ssl=True, **encryption, **options)


def private_bucket(scope: Construct, id: str, *, versioned: bool = False, retain: bool = False,
                   lifecycle_rules: list[s3.LifecycleRule] | None = None,
                   cors: list[s3.CorsRule] | None = None, event_bridge: bool = False,
                   kms_key: kms.IKey | None = None, access_logs: s3.IBucket | None = None,
                   log_prefix: str | None = None) -> s3.Bucket:
    """SSE-S3 (SSE-KMS with ``kms_key``) with a bucket key, no public access, owner-enforced,
    plain HTTP denied; server access logs into ``access_logs`` under ``log_prefix`` when given.

    EventBridge notifications are set on the bucket resource itself: CDK's ``event_bridge_enabled``
    adds a notification custom resource with a Lambda function of its own, and this stack has
    one function.
    """
    bucket = s3.Bucket(
        scope, id, encryption=s3.BucketEncryption.KMS if kms_key else s3.BucketEncryption.S3_MANAGED,
        encryption_key=kms_key, bucket_key_enabled=True,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED, enforce_ssl=True,
        versioned=versioned or None, lifecycle_rules=lifecycle_rules, cors=cors,
        removal_policy=RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY)
    if not versioned and any(r.expiration for r in lifecycle_rules or []):
        acknowledge(bucket, f"{HIPAA}-S3BucketVersioningEnabled", UNVERSIONED)
    cfn = cast(s3.CfnBucket, bucket.node.default_child)
    if access_logs:  # on the resource: CDK's option would grant S3 by an ACL, not the log bucket's policy
        cfn.logging_configuration = s3.CfnBucket.LoggingConfigurationProperty(
            destination_bucket_name=access_logs.bucket_name, log_file_prefix=log_prefix or f"{id}/")
    if event_bridge:
        cfn.add_property_override("NotificationConfiguration.EventBridgeConfiguration",
                                  {"EventBridgeEnabled": True})
    return bucket


def access_log_bucket(scope: Construct, expiry: Duration) -> s3.Bucket:
    """The bucket S3 writes server access logs to: SSE-S3 (S3 cannot log into SSE-KMS), versioned,
    kept ``expiry``; S3's log delivery of this account may write into it, by its policy."""
    bucket = s3.Bucket(
        scope, "AccessLogBucket", encryption=s3.BucketEncryption.S3_MANAGED,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED, enforce_ssl=True,
        versioned=True, removal_policy=RemovalPolicy.RETAIN,
        lifecycle_rules=[s3.LifecycleRule(id="expire-access-logs", expiration=expiry,
                                          noncurrent_version_expiration=Duration.days(30))])
    bucket.add_to_resource_policy(iam.PolicyStatement(
        sid="S3LogsOfThisAccount", principals=[iam.ServicePrincipal("logging.s3.amazonaws.com")],
        actions=["s3:PutObject"], resources=[bucket.arn_for_objects("*")],
        conditions={"StringEquals": {"aws:SourceAccount": Stack.of(scope).account}}))
    return bucket


def create_storage(scope: Construct, *, allowed_origin: str, upload_expiry_days: int,
                   quarantine_expiry_days: int, quarantine_prefix: str,
                   kms_key: kms.IKey | None = None, server_access_logs: bool = False,
                   access_log_expiry_days: int = 365) -> Storage:
    """The tables, the three buckets (and the access log bucket), the queues and the topic."""
    logs = access_log_bucket(scope, Duration.days(access_log_expiry_days)) \
        if server_access_logs else None
    protected: dict[str, Any] = {"kms_key": kms_key, "access_logs": logs}
    upload_expiry = Duration.days(upload_expiry_days)
    upload = private_bucket(
        scope, "UploadBucket", event_bridge=True, **protected,
        cors=[s3.CorsRule(allowed_origins=allowed_origin.split(","),
                          allowed_methods=[s3.HttpMethods.GET, s3.HttpMethods.POST, s3.HttpMethods.PUT],
                          allowed_headers=["*"], exposed_headers=["ETag"], max_age=600)],
        lifecycle_rules=[
            s3.LifecycleRule(id="expire-raw-uploads", prefix="uploads/", expiration=upload_expiry,
                             abort_incomplete_multipart_upload_after=Duration.days(1)),
            s3.LifecycleRule(id="expire-converted", prefix="converted/", expiration=upload_expiry),
        ])
    landing = private_bucket(
        scope, "LandingBucket", versioned=True, event_bridge=True, **protected,
        lifecycle_rules=[
            s3.LifecycleRule(id="expire-old-versions", noncurrent_version_expiration=Duration.days(30),
                             abort_incomplete_multipart_upload_after=Duration.days(1)),
            # quarantined files may hold patient data: kept only long enough to be looked at
            s3.LifecycleRule(id="expire-quarantine", prefix=quarantine_prefix,
                             expiration=Duration.days(quarantine_expiry_days)),
        ])
    archive = private_bucket(
        scope, "ArchiveBucket", versioned=True, retain=True, **protected,
        lifecycle_rules=[s3.LifecycleRule(
            id="expire-old-versions", noncurrent_version_expiration=Duration.days(30),
            abort_incomplete_multipart_upload_after=Duration.days(2))])
    dead_letters = queue(scope, "ActionDeadLetterQueue", kms_key,
                         retention_period=Duration.days(14))
    action_queue = queue(
        scope, "ActionQueue", kms_key,
        # AWS recommends at least six times the function timeout for an SQS event source.
        visibility_timeout=Duration.seconds(5400), retention_period=Duration.days(4),
        dead_letter_queue=sqs.DeadLetterQueue(max_receive_count=5, queue=dead_letters))
    failed = queue(scope, "FailedEventsQueue", kms_key, retention_period=Duration.days(14))
    schedule_dead_letters = queue(scope, "ScheduleDeadLetterQueue", kms_key,
                                  retention_period=Duration.days(14))
    topic = sns.Topic(scope, "AlertTopic",
                      master_key=kms.Alias.from_alias_name(scope, "SnsKey", "alias/aws/sns"))
    return Storage(
        jobs=table(scope, "JobsTable", "jobId", "ttl", recoverable=True, kms_key=kms_key),
        idempotency=table(scope, "IdempotencyTable", "id", "expiration", kms_key=kms_key),
        locks=table(scope, "LocksTable", "lockId", "expiresAt", kms_key=kms_key),
        audit=table(scope, "AuditTable", "auditId", None, retain=True, kms_key=kms_key),
        upload=upload, landing=landing, archive=archive, action_queue=action_queue,
        action_dead_letters=dead_letters, failed_events=failed,
        schedule_dead_letters=schedule_dead_letters, alert_topic=topic, access_logs=logs,
        kms_key=kms_key)
