"""The tables in an AWS Backup plan, as the SAM template's ``TableBackups=On`` puts them.

Point-in-time recovery already restores the jobs and audit tables to any second of the last 35
days; a plan adds daily recovery points an operator can keep longer, lock or copy to another
account, which is what a HIPAA contingency plan usually asks for.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_backup as backup
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct


def table_backup_plan(scope: Construct, tables: Sequence[dynamodb.ITable],
                      kms_key: kms.IKey | None = None) -> backup.BackupPlan:
    """A vault (``kms_key`` or AWS Backup's key; kept with the stack's deletion), a daily rule kept
    35 days, and a selection of ``tables``."""
    vault = backup.BackupVault(
        scope, "TableBackupVault", encryption_key=kms_key, removal_policy=RemovalPolicy.RETAIN,
        backup_vault_name=f"{Stack.of(scope).stack_name}-tables")
    plan = backup.BackupPlan(scope, "TableBackupPlan", backup_vault=vault)
    plan.add_rule(backup.BackupPlanRule(
        rule_name="daily", schedule_expression=events.Schedule.cron(hour="5", minute="0"),
        delete_after=Duration.days(35)))
    plan.add_selection("Tables", resources=[
        backup.BackupResource.from_dynamo_db_table(t) for t in tables],
        role=_backup_role(scope, tables), disable_default_backup_policy=True)
    return plan


def _backup_role(scope: Construct, tables: Sequence[dynamodb.ITable]) -> iam.Role:
    """What backing up ``tables`` takes, and no more (AWS's AWSBackupServiceRolePolicyForBackup
    grants it on every resource of every service); restores run as the operator."""
    arns = [t.table_arn for t in tables]
    return iam.Role(
        scope, "TableBackupRole",
        assumed_by=iam.PrincipalWithConditions(
            iam.ServicePrincipal("backup.amazonaws.com"),
            {"StringEquals": {"aws:SourceAccount": Stack.of(scope).account}}),
        inline_policies={"back-up-the-tables": iam.PolicyDocument(statements=[
            iam.PolicyStatement(sid="TheTables", actions=[
                "dynamodb:DescribeTable", "dynamodb:CreateBackup", "dynamodb:ListTagsOfResource",
                "dynamodb:StartAwsBackupJob"], resources=arns),
            iam.PolicyStatement(sid="TheirBackups", actions=[
                "dynamodb:DescribeBackup", "dynamodb:DeleteBackup"],
                resources=[f"{arn}/backup/*" for arn in arns])])})
