"""The function's IAM statements, the same as infra/template.yaml's, feature by feature.

Every statement names the ARNs the construct creates or is given. ``Resource: "*"`` appears only
where AWS offers no resource-level permission, with the same Sids as the SAM template (its
infra/README.md explains each). CDK's ``grant*`` helpers are not used: they grant wildcard
actions (``s3:GetObject*``, ``s3:List*``) that this function does not need.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import Fn
from aws_cdk import aws_iam as iam

from opsfn.cdk import arns


def allow(sid: str | None, actions: Sequence[str], resources: Sequence[str],
          conditions: dict[str, dict[str, object]] | None = None) -> iam.PolicyStatement:
    """One Allow statement (a Sid when the SAM template has one)."""
    return iam.PolicyStatement(sid=sid, effect=iam.Effect.ALLOW, actions=list(actions),
                               resources=list(resources), conditions=conditions)


def via_access_point(access_point_arn: str) -> dict[str, dict[str, object]]:
    return {"StringEquals": {"elasticfilesystem:AccessPointArn": access_point_arn}}


@dataclass(frozen=True, slots=True)
class CoreArns:
    """What every deployment has: the statements of the logs, core, imaging, etl and archive policies."""

    log_group: str
    action_queue: str
    failed_events_queue: str
    locks_table: str
    idempotency_table: str
    audit_table: str
    alert_topic: str
    jobs_table: str
    upload_bucket: str
    landing_bucket: str
    archive_bucket: str
    tracing: bool = False


def core_policies(a: CoreArns) -> dict[str, list[iam.PolicyStatement]]:
    """The policies every deployment has, by name (the role's inline policies)."""
    return {
        "logs": [allow(None, ["logs:CreateLogStream", "logs:PutLogEvents"], [a.log_group])],
        "core": [
            allow("ActionQueueConsumeAndFanOut",
                  ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes",
                   "sqs:ChangeMessageVisibility", "sqs:SendMessage", "sqs:GetQueueUrl"],
                  [a.action_queue]),
            allow("AsyncFailureDestination", ["sqs:SendMessage"], [a.failed_events_queue]),
            allow("SharedTables", ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem",
                                   "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem"],
                  [a.locks_table, a.idempotency_table]),
            allow("AuditAppendOnly", ["dynamodb:PutItem", "dynamodb:GetItem"], [a.audit_table]),
            allow("Alerts", ["sns:Publish"], [a.alert_topic]),
            *([allow("XRayHasNoResourceLevelPermissions",
                     ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], ["*"])]
              if a.tracing else []),
        ],
        "imaging": [
            allow("JobsTable", ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
                  [a.jobs_table]),
            allow("UploadObjects", ["s3:GetObject", "s3:PutObject"],
                  [f"{a.upload_bucket}/uploads/*", f"{a.upload_bucket}/converted/*"]),
            allow("RekognitionHasNoResourceLevelPermissions", ["rekognition:DetectLabels"], ["*"]),
            # a presigned PUT without fileSize is bounded by processing, which deletes what is over
            allow("DeleteOversizedUploads", ["s3:DeleteObject"], [f"{a.upload_bucket}/uploads/*"]),
            # without it S3 answers 403 for a missing key, and a vanished upload is a 404
            allow("VanishedUploadsAre404Not403", ["s3:ListBucket"], [a.upload_bucket]),
        ],
        "etl": [allow("ReadLandedFilesAndQuarantineBadOnes",
                      ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
                      [f"{a.landing_bucket}/*"])],
        "archive": [
            allow("SyncListing", ["s3:ListBucket"], [a.archive_bucket]),
            allow("SyncObjectsAndManifests",
                  ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
                  [f"{a.archive_bucket}/efs/*", f"{a.archive_bucket}/.opsfn-sync/*"]),
        ],
        "incidents": [allow("RebootOnlyTaggedInstances", ["ec2:RebootInstances"],
                            [arns.account_arn("ec2", "instance/*")],
                            {"StringEquals": {"aws:ResourceTag/opsfn-incident-target": "true"}})],
    }


# -- file systems ---------------------------------------------------------------------------------
def mount_through(sid: str, file_system_arn: str, access_point_arn: str,
                  as_root: bool) -> list[iam.PolicyStatement]:
    """Mount and write one file system, only through its access point (root only if it says so)."""
    found = [allow(sid, ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"],
                   [file_system_arn], via_access_point(access_point_arn))]
    if as_root:  # an access point that makes the function uid or gid 0 needs it (else EFS refuses)
        found.append(allow("RootThroughTheSslAccessPointOnly", ["elasticfilesystem:ClientRootAccess"],
                           [file_system_arn], via_access_point(access_point_arn)))
    return found


# -- SES ------------------------------------------------------------------------------------------
def smtp_user(secret_name: str, user_name: str) -> list[iam.PolicyStatement]:
    """opsfn's own SMTP user: its secret (by name, any suffix) and that IAM user only."""
    return [
        allow("SmtpUserCredentialSecret",
              ["secretsmanager:CreateSecret", "secretsmanager:PutSecretValue",
               "secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret",
               "secretsmanager:TagResource", "secretsmanager:DeleteSecret",
               "secretsmanager:RestoreSecret", "secretsmanager:UpdateSecretVersionStage"],
              [arns.secret_by_name(secret_name)]),
        allow("SmtpIamUserOnly",
              ["iam:CreateUser", "iam:GetUser", "iam:DeleteUser", "iam:TagUser", "iam:ListUserTags",
               "iam:PutUserPolicy", "iam:DeleteUserPolicy", "iam:CreateAccessKey",
               "iam:ListAccessKeys", "iam:DeleteAccessKey"],
              [arns.iam_user(user_name)]),
    ]


def smtp_derive(source_secret_arn: str, target_secret_arn: str) -> list[iam.PolicyStatement]:
    """The derive variant: read the source secret, read and write the target, nothing else."""
    return [
        allow("SmtpSourceSecretReadOnly", ["secretsmanager:GetSecretValue"], [source_secret_arn]),
        allow("SmtpTargetSecret", ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue",
                                   "secretsmanager:PutSecretValue"], [target_secret_arn]),
    ]


def secrets_key(key_arn: str) -> iam.PolicyStatement:
    """A KMS key the secrets are encrypted with, usable only through Secrets Manager."""
    return allow("SmtpSecretsKeyThroughSecretsManager", ["kms:Decrypt", "kms:GenerateDataKey"],
                 [key_arn], {"StringEquals": {"kms:ViaService": Fn.sub(
                     "secretsmanager.${AWS::Region}.amazonaws.com")}})


def receipt_rule_sets() -> iam.PolicyStatement:
    return allow("SesReceiptRuleSetsHaveNoResourceLevelPermissions",
                 ["ses:DescribeActiveReceiptRuleSet", "ses:DescribeReceiptRuleSet",
                  "ses:SetActiveReceiptRuleSet"], ["*"])


def mail_relay(inbound_bucket_arn: str, prefix: str, forward_from: str,
               forward_domain: str) -> list[iam.PolicyStatement]:
    """Read the stored mail; send only as the forwarding address (its identity or its domain's)."""
    return [
        allow("ReadReceivedMail", ["s3:GetObject"], [f"{inbound_bucket_arn}/{prefix}*"]),
        allow("SendOnlyAsTheForwardingIdentity", ["ses:SendRawEmail"],
              [arns.ses_identity(forward_from), arns.ses_identity(forward_domain)],
              {"StringEquals": {"ses:FromAddress": forward_from}}),
    ]


# -- exports --------------------------------------------------------------------------------------
def rds_export(export_role_arn: str, kms_key_arn: str) -> list[iam.PolicyStatement]:
    return [
        allow("FindSnapshots", ["rds:DescribeDBClusterSnapshots", "rds:DescribeDBSnapshots"],
              [arns.account_arn("rds", "cluster:*"), arns.account_arn("rds", "db:*"),
               arns.account_arn("rds", "cluster-snapshot:*"), arns.account_arn("rds", "snapshot:*")]),
        allow("ExportTasksHaveNoResourceLevelPermissions",
              ["rds:StartExportTask", "rds:DescribeExportTasks"], ["*"]),
        allow("PassOnlyTheExportRole", ["iam:PassRole"], [export_role_arn],
              {"StringEquals": {"iam:PassedToService": "export.rds.amazonaws.com"}}),
        allow("ExportKey", ["kms:DescribeKey", "kms:CreateGrant"], [kms_key_arn]),
    ]


def rds_export_role(archive_bucket_arn: str) -> list[iam.PolicyStatement]:
    """What RDS may do with the export role: write only ``rds-exports/`` of the archive."""
    return [
        allow(None, ["s3:PutObject", "s3:GetObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
              [f"{archive_bucket_arn}/rds-exports/*"]),
        allow(None, ["s3:ListBucket", "s3:GetBucketLocation"], [archive_bucket_arn]),
    ]


def datasync(datasync_role_arn: str) -> list[iam.PolicyStatement]:
    return [
        allow("DataSyncCreateAndListHaveNoResourceLevelPermissions",
              ["datasync:CreateLocationEfs", "datasync:CreateLocationS3", "datasync:ListTasks"], ["*"]),
        allow("DataSyncTasksAndLocationsOfThisAccount",
              ["datasync:CreateTask", "datasync:DescribeTask", "datasync:StartTaskExecution",
               "datasync:DescribeTaskExecution", "datasync:TagResource"],
              [arns.account_arn("datasync", "task/*"), arns.account_arn("datasync", "location/*")]),
        allow("PassOnlyTheDataSyncRole", ["iam:PassRole"], [datasync_role_arn],
              {"StringEquals": {"iam:PassedToService": "datasync.amazonaws.com"}}),
    ]


def datasync_role(archive_bucket_arn: str, file_system_arn: str) -> list[iam.PolicyStatement]:
    """What DataSync may do with its role: read the one file system, write only ``efs/``."""
    return [
        allow("TheArchiveBucket",
              ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
              [archive_bucket_arn]),
        allow("TheCopyOnly",
              ["s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:GetObjectTagging",
               "s3:ListMultipartUploadParts", "s3:PutObject", "s3:PutObjectTagging"],
              [f"{archive_bucket_arn}/efs/*"]),
        # ClientMount is read access (EFS has no ClientRead action); DataSync mounts as root.
        allow("ReadTheFileSystem", ["elasticfilesystem:ClientMount",
                                    "elasticfilesystem:ClientRootAccess"], [file_system_arn]),
    ]


def scheduler_role(function_arn: str, dead_letter_queue_arn: str) -> list[iam.PolicyStatement]:
    """The scheduler role: invoke this function, park what it could not deliver."""
    return [allow(None, ["lambda:InvokeFunction"], [function_arn]),
            allow(None, ["sqs:SendMessage"], [dead_letter_queue_arn])]
