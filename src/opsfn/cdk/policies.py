"""IAM statements no route declares: the function's own needs, file system mounts and the roles
other services assume (RDS exports, DataSync, the scheduler).

The routes' statements are made from their ``access=`` declarations (:mod:`opsfn.cdk.route_access`).
Every statement here names the ARNs the construct creates or is given. CDK's ``grant*`` helpers
are not used: they grant wildcard actions (``s3:GetObject*``, ``s3:List*``) that are not needed.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import aws_iam as iam


def allow(sid: str | None, actions: Sequence[str], resources: Sequence[str],
          conditions: dict[str, dict[str, object]] | None = None) -> iam.PolicyStatement:
    """One Allow statement (a Sid when the SAM template has one)."""
    return iam.PolicyStatement(sid=sid, effect=iam.Effect.ALLOW, actions=list(actions),
                               resources=list(resources), conditions=conditions)


def via_access_point(access_point_arn: str) -> dict[str, dict[str, object]]:
    return {"StringEquals": {"elasticfilesystem:AccessPointArn": access_point_arn}}


def core_policies(log_group: str, action_queue: str | None, failed_events_queue: str, *,
                  tracing: bool = False) -> dict[str, list[iam.PolicyStatement]]:
    """The construct's own policies, by name: what no route calls but the function needs (its
    log stream, Lambda reading the action queue (when it does) and sending failed async events,
    traces)."""
    return {
        "logs": [allow(None, ["logs:CreateLogStream", "logs:PutLogEvents"], [log_group])],
        "core": [
            *([allow("ActionQueueEventSourceMapping",
                     ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes",
                      "sqs:ChangeMessageVisibility"], [action_queue])] if action_queue else []),
            allow("AsyncFailureDestination", ["sqs:SendMessage"], [failed_events_queue]),
            *([allow("XRayHasNoResourceLevelPermissions",
                     ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], ["*"])]
              if tracing else []),
        ],
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


# -- exports --------------------------------------------------------------------------------------
def rds_export_role(archive_bucket_arn: str) -> list[iam.PolicyStatement]:
    """What RDS may do with the export role: write only ``rds-exports/`` of the archive."""
    return [
        allow(None, ["s3:PutObject", "s3:GetObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
              [f"{archive_bucket_arn}/rds-exports/*"]),
        allow(None, ["s3:ListBucket", "s3:GetBucketLocation"], [archive_bucket_arn]),
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


def scheduler_role(function_arns: Sequence[str],
                   dead_letter_queue_arn: str) -> list[iam.PolicyStatement]:
    """The scheduler role: invoke this function (and its alias), park what it could not deliver."""
    return [allow(None, ["lambda:InvokeFunction"], list(function_arns)),
            allow(None, ["sqs:SendMessage"], [dead_letter_queue_arn])]
