"""A customer-managed key (``kms_key``) for the construct's data, and who may use it.

The roles that read and write the encrypted buckets, tables and queues get the key's
encrypt/decrypt grant; the services that write into them on their own (CloudWatch Logs, the
EventBridge rules' dead-letter queue, SES storing mail) need the key policy to let them, which
the construct adds to a key of the same app and an operator adds to an imported key
(infra/README.md lists the statements).
"""

from __future__ import annotations

from collections.abc import Iterable

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import IConstruct

SERVICES = ("logs.{region}.amazonaws.com", "events.amazonaws.com", "ses.amazonaws.com")
# What reading and writing encrypted objects, items and messages takes, named one by one (CDK's
# grant_encrypt_decrypt adds kms:ReEncrypt* and kms:GenerateDataKey*, which nothing here uses).
ACTIONS = ("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey")


def use_key(key: kms.IKey, roles: Iterable[iam.IGrantable]) -> None:
    """Let each role encrypt and decrypt with ``key`` (its identity policy)."""
    for role in roles:
        key.grant(role, *ACTIONS)


def allow_services(scope: IConstruct, key: kms.IKey) -> None:
    """Let the writing services of this account use ``key`` when it is a key of this app (an
    imported key's policy is its owner's to change)."""
    if not isinstance(key, kms.Key):
        return
    stack = Stack.of(scope)
    for service in SERVICES:
        key.grant(iam.PrincipalWithConditions(
            iam.ServicePrincipal(service.format(region=stack.region)),
            {"StringEquals": {"aws:SourceAccount": stack.account}}), *ACTIONS)
