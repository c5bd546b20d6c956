"""ARNs of things the construct names but does not create, built as the SAM template builds them."""

from __future__ import annotations

from aws_cdk import Fn


def account_arn(service: str, resource: str, **values: str) -> str:
    """``arn:<partition>:<service>:<region>:<account>:<resource>`` (``${Name}`` from ``values``)."""
    return Fn.sub(f"arn:${{AWS::Partition}}:{service}:${{AWS::Region}}:${{AWS::AccountId}}:{resource}",
                  values or None)


def file_system(file_system_id: str) -> str:
    return account_arn("elasticfilesystem", "file-system/${Fs}", Fs=file_system_id)


def receipt_rule(rule_set_name: str, rule_name: str) -> str:
    return account_arn("ses", "receipt-rule-set/${Set}:receipt-rule/${Rule}", Set=rule_set_name,
                       Rule=rule_name)


def ses_identity(identity: str) -> str:
    return account_arn("ses", "identity/${Identity}", Identity=identity)


def db_cluster(cluster_id: str) -> str:
    return account_arn("rds", "cluster:${Cluster}", Cluster=cluster_id)


def secret_by_name(name: str) -> str:
    """Every ARN a secret of that name can have (Secrets Manager appends six characters)."""
    return account_arn("secretsmanager", "secret:${Name}-??????", Name=name)


def iam_user(user_name: str) -> str:
    return Fn.sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:user/${User}", {"User": user_name})


def subnet(subnet_id: str) -> str:
    return account_arn("ec2", "subnet/${Subnet}", Subnet=subnet_id)


def security_group(group_id: str) -> str:
    return account_arn("ec2", "security-group/${Group}", Group=group_id)
