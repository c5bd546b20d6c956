#!/usr/bin/env python3
"""An OpenEMR-like stack whose operational functions are one opsfn function (``opsfn.cdk``).

    cd infra/cdk
    python app.py                    # synthesizes cdk.out/OpenemrOpsStack.template.json
    npx cdk deploy -c domain=...     # with the CDK CLI (cdk.json runs this file)

It has what the OpenEMR-on-ECS stack gives its functions: a file system holding only the TLS
materials (mounted at /etc/ssl by the web containers), a file system for the sites folder, an
Aurora cluster, a central KMS key, and SES (a domain identity, the SMTP user's IAM key in one
secret and the SMTP password in another, a receipt rule set). ``OpsFunction`` replaces the
stack's functions: the TLS materials, the SMTP credential, the active rule set, the inbound mail
relay, the live-cluster export and the DataSync copy of the sites file system. docs/openemr.md
explains each step.

``OPSFN_CDK_CODE`` may name a prebuilt zip or tree (``opsfn package``); otherwise the tree is
built once into build/cdk/ of the checkout and rebuilt when the sources change. Context values
``domain`` (default example.com) and ``forward_to`` (where received mail goes) shape the SES part.

``-c strict=true`` turns on the construct's HIPAA-strict options (the central key for the function's
buckets, tables, queues and logs; S3 server access logs; the tables in an AWS Backup plan), and
``-c nag=true`` runs cdk-nag's AwsSolutions and HIPAA.Security packs as policy-validation plugins
(``pip install cdk-nag``): synthesis fails with a report in cdk.out/validation-report.json when
any finding is not acknowledged. The opsfn construct acknowledges its own (opsfn.cdk.nag); the
stand-ins for the OpenEMR stack's network, database and secrets are that stack's to answer.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_efs as efs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_rds as rds
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_ses as ses
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from opsfn.cdk import OpsFunction

STACK_NAME = "OpenemrOpsStack"


class OpenemrOpsStack(cdk.Stack):
    """The OpenEMR stack's storage, database and mail, with opsfn for its operational glue."""

    def __init__(self, scope: Construct, id: str, *, domain: str, forward_to: str,
                 code: str | None = None, strict: bool = False) -> None:
        super().__init__(scope, id)
        key = kms.Key(self, "CentralKey", enable_key_rotation=True)
        # Private subnets with a NAT route: custom resources answer CloudFormation over HTTPS.
        vpc = ec2.Vpc(self, "Vpc", max_azs=2, nat_gateways=1, restrict_default_security_group=False)
        private = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS)
        ssl_files = efs.FileSystem(self, "EfsFileSystemForSslFolder", vpc=vpc, vpc_subnets=private,
                                   encrypted=True, kms_key=key)
        sites = efs.FileSystem(self, "EfsFileSystemForSitesFolder", vpc=vpc, vpc_subnets=private,
                               encrypted=True, kms_key=key)
        cluster = rds.DatabaseCluster(
            self, "DatabaseCluster",
            engine=rds.DatabaseClusterEngine.aurora_mysql(
                version=rds.AuroraMysqlEngineVersion.VER_3_08_0),
            writer=rds.ClusterInstance.serverless_v2("writer"), serverless_v2_min_capacity=0.5,
            serverless_v2_max_capacity=2, vpc=vpc, vpc_subnets=private, storage_encrypted=True,
            storage_encryption_key=key)

        # SES as the stack has it: the IAM key of the SMTP user in one secret ({"password": key}),
        # the SMTP password derived from it in another, the user name in SSM.
        identity = ses.EmailIdentity(self, "DomainIdentity", identity=ses.Identity.domain(domain))
        smtp_user = iam.User(self, "SmtpUser")
        smtp_user.add_to_policy(iam.PolicyStatement(actions=["ses:SendRawEmail"],
                                                    resources=[identity.email_identity_arn]))
        access_key = iam.AccessKey(self, "SmtpAccessKey", user=smtp_user)
        secret_access_key = secretsmanager.Secret(
            self, "SecretAccessKey", encryption_key=key,
            secret_object_value={"password": access_key.secret_access_key})
        smtp_secret = secretsmanager.Secret(self, "SmtpSecret", encryption_key=key)
        ssm.StringParameter(self, "SmtpUserName", parameter_name=f"/{id}/smtp_user",
                            string_value=access_key.access_key_id)
        rule_set = ses.ReceiptRuleSet(self, "ReceiptRuleSet")

        # Access logs on (anonymous: no path, query string or caller); SnapStart stays off, since
        # the function mounts the SSL file system and Lambda SnapStart does not support EFS.
        ops = OpsFunction(self, "Ops", code=code, vpc=vpc, vpc_subnets=private,
                          api_access_logs=True, kms_key=key if strict else None,
                          server_access_logs=strict, table_backups=strict)
        ops.ssl_materials(ssl_files, uid=0, gid=0)  # root's files, read by the container as root
        ops.smtp_credential(source_secret=secret_access_key, source_field="password",
                            target_secret=smtp_secret, target_field="password")
        ops.inbound_relay(rule_set, forward_to=[forward_to], forward_from=f"relay@{domain}",
                          recipients=[f"help@{domain}"])
        ops.active_receipt_rule_set(rule_set)
        ops.rds_export(cluster=cluster, kms_key=key, source="cluster")
        ops.sync_with_datasync(sites)  # the function mounts the SSL file system, not this one


def _flag(app: cdk.App, name: str) -> bool:
    """A true/false context value (``-c name=true``; the CLI passes strings)."""
    return str(app.node.try_get_context(name) or "").lower() in {"1", "true", "yes"}


def main() -> None:
    # The CDK CLI sets CDK_OUTDIR; run directly, the app writes cdk.out/ beside this file.
    app = cdk.App(outdir=os.environ.get("CDK_OUTDIR") or str(Path(__file__).parent / "cdk.out"))
    domain = app.node.try_get_context("domain") or "example.com"
    forward_to = app.node.try_get_context("forward_to") or f"ops@{domain}"
    if _flag(app, "nag"):
        from cdk_nag import AwsSolutionsChecks, HIPAASecurityChecks

        cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app), HIPAASecurityChecks(app))
    OpenemrOpsStack(app, STACK_NAME, domain=domain, forward_to=forward_to,
                    code=os.environ.get("OPSFN_CDK_CODE") or None, strict=_flag(app, "strict"))
    assembly = app.synth()
    sys.stderr.write(f"{Path(assembly.directory) / f'{STACK_NAME}.template.json'}\n")


if __name__ == "__main__":
    main()
