"""Tables, buckets, queues and the alert topic, shaped as infra/template.yaml shapes them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct


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


def table(scope: Construct, id: str, key: str, ttl: str | None, *,
          retain: bool = False) -> dynamodb.Table:
    """On-demand, encrypted, one string partition key; TTL attribute as the code writes it."""
    return dynamodb.Table(
        scope, id, partition_key=dynamodb.Attribute(name=key, type=dynamodb.AttributeType.STRING),
        billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST, time_to_live_attribute=ttl,
        encryption=dynamodb.TableEncryption.AWS_MANAGED,
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True) if retain else None,
        removal_policy=RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY)


def private_bucket(scope: Construct, id: str, *, versioned: bool = False, retain: bool = False,
                   lifecycle_rules: list[s3.LifecycleRule] | None = None,
                   cors: list[s3.CorsRule] | None = None, event_bridge: bool = False) -> s3.Bucket:
    """SSE-S3 with a bucket key, no public access, owner-enforced, plain HTTP denied.

    EventBridge notifications are set on the bucket resource itself: CDK's ``event_bridge_enabled``
    adds a notification custom resource with a Lambda function of its own, and this stack has
    one function.
    """
    bucket = s3.Bucket(
        scope, id, encryption=s3.BucketEncryption.S3_MANAGED, bucket_key_enabled=True,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED, enforce_ssl=True,
        versioned=versioned or None, lifecycle_rules=lifecycle_rules, cors=cors,
        removal_policy=RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY)
    if event_bridge:
        cfn = cast(s3.CfnBucket, bucket.node.default_child)
        cfn.add_property_override("NotificationConfiguration.EventBridgeConfiguration",
                                  {"EventBridgeEnabled": True})
    return bucket


def create_storage(scope: Construct, *, allowed_origin: str, upload_expiry_days: int,
                   quarantine_expiry_days: int, quarantine_prefix: str) -> Storage:
    """The tables, the three buckets, the queues and the topic."""
    upload_expiry = Duration.days(upload_expiry_days)
    upload = private_bucket(
        scope, "UploadBucket", event_bridge=True,
        cors=[s3.CorsRule(allowed_origins=allowed_origin.split(","),
                          allowed_methods=[s3.HttpMethods.GET, s3.HttpMethods.POST, s3.HttpMethods.PUT],
                          allowed_headers=["*"], exposed_headers=["ETag"], max_age=600)],
        lifecycle_rules=[
            s3.LifecycleRule(id="expire-raw-uploads", prefix="uploads/", expiration=upload_expiry,
                             abort_incomplete_multipart_upload_after=Duration.days(1)),
            s3.LifecycleRule(id="expire-converted", prefix="converted/", expiration=upload_expiry),
        ])
    landing = private_bucket(
        scope, "LandingBucket", versioned=True, event_bridge=True,
        lifecycle_rules=[
            s3.LifecycleRule(id="expire-old-versions", noncurrent_version_expiration=Duration.days(30),
                             abort_incomplete_multipart_upload_after=Duration.days(1)),
            # quarantined files may hold patient data: kept only long enough to be looked at
            s3.LifecycleRule(id="expire-quarantine", prefix=quarantine_prefix,
                             expiration=Duration.days(quarantine_expiry_days)),
        ])
    archive = private_bucket(
        scope, "ArchiveBucket", versioned=True, retain=True,
        lifecycle_rules=[s3.LifecycleRule(
            id="expire-old-versions", noncurrent_version_expiration=Duration.days(30),
            abort_incomplete_multipart_upload_after=Duration.days(2))])
    dead_letters = sqs.Queue(scope, "ActionDeadLetterQueue", encryption=sqs.QueueEncryption.SQS_MANAGED,
                             retention_period=Duration.days(14))
    action_queue = sqs.Queue(
        scope, "ActionQueue", encryption=sqs.QueueEncryption.SQS_MANAGED,
        # AWS recommends at least six times the function timeout for an SQS event source.
        visibility_timeout=Duration.seconds(5400), retention_period=Duration.days(4),
        dead_letter_queue=sqs.DeadLetterQueue(max_receive_count=5, queue=dead_letters))
    failed = sqs.Queue(scope, "FailedEventsQueue", encryption=sqs.QueueEncryption.SQS_MANAGED,
                       retention_period=Duration.days(14))
    schedule_dead_letters = sqs.Queue(scope, "ScheduleDeadLetterQueue",
                                      encryption=sqs.QueueEncryption.SQS_MANAGED,
                                      retention_period=Duration.days(14))
    topic = sns.Topic(scope, "AlertTopic",
                      master_key=kms.Alias.from_alias_name(scope, "SnsKey", "alias/aws/sns"))
    return Storage(
        jobs=table(scope, "JobsTable", "jobId", "ttl"),
        idempotency=table(scope, "IdempotencyTable", "id", "expiration"),
        locks=table(scope, "LocksTable", "lockId", "expiresAt"),
        audit=table(scope, "AuditTable", "auditId", None, retain=True),
        upload=upload, landing=landing, archive=archive, action_queue=action_queue,
        action_dead_letters=dead_letters, failed_events=failed,
        schedule_dead_letters=schedule_dead_letters, alert_topic=topic)
