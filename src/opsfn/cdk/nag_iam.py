"""The construct's answers to cdk-nag's IAM findings, by kind, for any role.

An aspect visits every role and policy under a scope (the construct, or one role) and
acknowledges its inline policies, the AWS managed policies listed here and each wildcard of a
kind explained here. Whichever role holds the routes' policies gets the same reasons, and a
wildcard of a kind not listed stays a finding for someone to look at. (Route policies the
construct sets as a raw override of a role's ``Policies`` are not seen by cdk-nag at all.)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

import jsii
from aws_cdk import Aspects, IAspect, Stack
from aws_cdk import aws_iam as iam
from constructs import IConstruct

from opsfn.cdk.nag import AWS, HIPAA, acknowledge

# Actions that IAM gives no resource type (infra/README.md, "IAM: where Resource: * remains").
UNSCOPED_ACTIONS = frozenset({
    "rekognition:DetectLabels", "ses:DescribeActiveReceiptRuleSet", "ses:DescribeReceiptRuleSet",
    "ses:SetActiveReceiptRuleSet", "rds:StartExportTask", "rds:DescribeExportTasks",
    "xray:PutTraceSegments", "xray:PutTelemetryRecords", "backup:DescribeBackupJob",
    "datasync:CreateLocationEfs", "datasync:CreateLocationS3", "datasync:ListTasks",
    "cloudwatch:GetMetricStatistics",
    # AWSLambdaVPCAccessExecutionRole's network interface actions (ec2 has no ENI-level grant)
    "ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets",
    "ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses",
})

# Wildcard resources by kind, and why each is as narrow as IAM allows.
RESOURCE_KINDS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^<[A-Za-z0-9]+\.Arn>/backup/\*$"),
     "The backups of one table of this stack: DynamoDB names each backup when it makes it."),
    (re.compile(r"^<[A-Za-z0-9]+\.Arn>/[A-Za-z0-9._-]+/\*$"),
     "Objects under one key prefix of a bucket of this stack: object keys are data, so the "
     "prefix is the narrowest grant."),
    (re.compile(r"^arn:<AWS::Partition>:[a-z0-9-]+:<AWS::Region>:<AWS::AccountId>:"
                r"[a-z-]+/\*$"),
     "Items the service names at run time (tasks, locations, executions) of this account and "
     "region only; their names do not exist when the stack is made."),
)

# Wildcards explained only for read-only actions: every action on them must be a Describe or List.
READ_ONLY = re.compile(r"^[a-z0-9-]+:(Describe|List)[A-Za-z]*$")
READ_ONLY_KINDS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^arn:<AWS::Partition>:[a-z0-9-]+:<AWS::Region>:<AWS::AccountId>:[a-z-]+:\*$"),
     "Read-only Describe and List calls on items of one type in this account and region (the "
     "call names the configured one, e.g. the newest snapshot of the configured cluster); "
     "nothing is read from or changed in them."),
)

# AWS managed policies the construct attaches, and why each is acceptable.
MANAGED_POLICIES: dict[str, str] = {
    "service-role/AWSLambdaVPCAccessExecutionRole":
        "AWS's policy for a function in a VPC (its network interfaces); attached only with a "
        "VPC, and its ec2 actions have no resource-level permission.",
}

INLINE = ("Each policy names only this stack's resources and belongs to exactly one role, which "
          "it is created and deleted with; a managed policy would outlive it.")

def acknowledge_iam(scope: IConstruct) -> None:
    """Acknowledge the IAM findings of every role and policy under ``scope`` by kind."""
    Aspects.of(scope).add(_IamAcknowledgements())


def _flatten(value: Any) -> str:
    """A resolved reference as cdk-nag writes it in a finding (``<Logical.Arn>``, ``<Ref>``)."""
    if isinstance(value, str):
        return value.replace("${", "<").replace("}", ">")
    if isinstance(value, dict):
        if "Fn::Join" in value:
            delimiter, items = value["Fn::Join"]
            return str(delimiter).join(_flatten(i) for i in items)
        if "Fn::Sub" in value:
            return _flatten(value["Fn::Sub"])
        if "Fn::GetAtt" in value:
            resource, attribute = value["Fn::GetAtt"]
            return f"<{_flatten(resource)}.{_flatten(attribute)}>"
        if "Ref" in value:
            return f"<{_flatten(value['Ref'])}>"
    return repr(value)


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def wildcard_reasons(document: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(finding, reason) for each wildcard of the Allow statements this module can explain.

    cdk-nag reports each wildcard resource once per policy, whatever statements hold it, so a
    resource whose kind depends on the actions is explained only when every statement on it
    qualifies: ``*`` only for actions without a resource type, read-only kinds only for
    Describe and List actions.
    """
    actions_on: dict[str, set[str]] = {}
    for statement in _listed(document.get("Statement", [])):
        if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
            continue
        actions = {str(a) for a in _listed(statement.get("Action", []))}
        for resource in (_flatten(r) for r in _listed(statement.get("Resource", []))):
            if "*" in resource:
                actions_on.setdefault(resource, set()).update(actions)
    for resource, actions in actions_on.items():
        if resource == "*":
            if actions and actions <= UNSCOPED_ACTIONS:
                yield ("Resource::*", "Only actions IAM gives no resource type: "
                       + ", ".join(sorted(actions)) + " (infra/README.md lists why each).")
            continue
        reason = next((r for pattern, r in RESOURCE_KINDS if pattern.match(resource)), None)
        if reason is None and actions and all(READ_ONLY.match(a) for a in actions):
            reason = next((r for pattern, r in READ_ONLY_KINDS if pattern.match(resource)), None)
        if reason:
            yield f"Resource::{resource}", reason


def _documents(node: IConstruct) -> Iterable[dict[str, Any]]:
    stack = Stack.of(node)
    if isinstance(node, iam.CfnRole):
        for policy in _listed(stack.resolve(node.policies) or []):
            resolved = stack.resolve(policy)  # struct keys come back camel-cased
            yield stack.resolve(resolved.get("policyDocument") or resolved.get("PolicyDocument"))
    elif isinstance(node, iam.CfnPolicy | iam.CfnManagedPolicy):
        yield stack.resolve(node.policy_document)


@jsii.implements(IAspect)
class _IamAcknowledgements:
    """Acknowledge, on each role and policy, its inline policies, the AWS managed policies listed
    above and the wildcards :func:`wildcard_reasons` explains."""

    def visit(self, node: IConstruct) -> None:
        if not isinstance(node, iam.CfnRole | iam.CfnPolicy | iam.CfnManagedPolicy):
            return
        stack = Stack.of(node)
        if isinstance(node, iam.CfnPolicy) or (isinstance(node, iam.CfnRole) and node.policies):
            acknowledge(node, f"{HIPAA}-IAMNoInlinePolicy", INLINE)
        if isinstance(node, iam.CfnRole):
            for arn in _listed(stack.resolve(node.managed_policy_arns) or []):
                flat = _flatten(arn)
                name = flat.split(":policy/", 1)[-1]
                if name in MANAGED_POLICIES:
                    acknowledge(node, f"{AWS}-IAM4[Policy::{flat}]", MANAGED_POLICIES[name])
        for document in _documents(node):
            for finding, reason in wildcard_reasons(document):
                acknowledge(node, f"{AWS}-IAM5[{finding}]", reason)
