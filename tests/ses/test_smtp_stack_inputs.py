"""Custom::SmtpCredential with the OpenEMR stack's inputs, end to end against moto.

The stack (CDK) keeps the IAM user's secret access key in one secret as ``{"password": <key>}``
and gives the function both secrets by ARN; its function writes the derived SMTP password into
the other secret under ``password``, which the OpenEMR task reads as ``OPENEMR_SETTING_SMTP_PASS``
(the SMTP user is an SSM parameter holding the access key id). Both secrets are encrypted with the
stack's KMS key. The secrets below are made the way CDK makes them.
"""

from __future__ import annotations

import json
import secrets
import string
from collections.abc import Callable
from typing import Any

import pytest

from opsfn.routes.ses.smtp_password import smtp_password
from opsfn.services import aws
from opsfn.testing import Client

CR = "Custom::SmtpCredential"
IAM_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


@pytest.fixture
def stack_secrets(moto_aws: None) -> dict[str, str]:
    """The stack's two secrets: ``secret-access-key`` (secret_object_value) and ``smtp-secret``
    (no value given, so Secrets Manager generated a plain random password), one KMS key."""
    kms_key = aws.client("kms").create_key()["KeyMetadata"]["Arn"]
    sm = aws.client("secretsmanager")
    source = sm.create_secret(Name="secretaccesskey4C1D2", KmsKeyId=kms_key,
                              SecretString=json.dumps({"password": IAM_SECRET}))["ARN"]
    generated = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(32))
    target = sm.create_secret(Name="smtpsecretA1B2C3", KmsKeyId=kms_key,
                              SecretString=generated)["ARN"]
    return {"source": source, "target": target, "kms": kms_key}


def _props(found: dict[str, str], **extra: Any) -> dict[str, Any]:
    """The properties docs/openemr.md gives for the stack."""
    return {"SourceSecretId": found["source"], "SourceSecretKeyField": "password",
            "SecretName": found["target"], "SecretField": "password", **extra}


def _value(secret_id: str) -> Any:
    text = aws.client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"]
    return json.loads(text)


def _versions(secret_id: str) -> int:
    return len(aws.client("secretsmanager").list_secret_version_ids(SecretId=secret_id)["Versions"])


def _ecs_secret_field(secret_arn: str, field: str) -> str:
    """What ECS injects for ``ecs.Secret.from_secrets_manager(secret, field)``."""
    return str(_value(secret_arn)[field])


def test_the_stacks_secrets_by_arn_give_what_the_container_reads(
        client: Client, stack_secrets: dict[str, str], secret: Callable[[str], str]) -> None:
    secret(IAM_SECRET)  # the suite-wide leak check looks for both in every log line
    secret(smtp_password(IAM_SECRET, "us-east-1"))
    created = client.custom_resource("Create", CR, _props(stack_secrets))
    assert created["Status"] == "SUCCESS", created["Reason"]
    assert created["Data"] == {"SecretArn": stack_secrets["target"],
                               "Host": "email-smtp.us-east-1.amazonaws.com", "Port": "587"}
    derived = smtp_password(IAM_SECRET, "us-east-1")
    # Exactly what the stack's function leaves: the password field, nothing else.
    assert _value(stack_secrets["target"]) == {"password": derived}
    assert _ecs_secret_field(stack_secrets["target"], "password") == derived
    assert IAM_SECRET not in json.dumps(created) and derived not in json.dumps(created)
    # The secrets stay encrypted with the stack's key and untagged (not opsfn's to delete).
    described = aws.client("secretsmanager").describe_secret(SecretId=stack_secrets["target"])
    assert described["KmsKeyId"] == stack_secrets["kms"] and not described.get("Tags")
    assert _value(stack_secrets["source"]) == {"password": IAM_SECRET}

    versions = _versions(stack_secrets["target"])
    again = client.custom_resource("Create", CR, _props(stack_secrets))
    assert again["Status"] == "SUCCESS" and _versions(stack_secrets["target"]) == versions
    updated = client.custom_resource("Update", CR, _props(stack_secrets, Port="2587"),
                                     old_properties=_props(stack_secrets),
                                     physical_id=created["PhysicalResourceId"])
    assert updated["PhysicalResourceId"] == created["PhysicalResourceId"]
    assert _value(stack_secrets["target"]) == {"password": derived}  # the port is not its field

    deleted = client.custom_resource("Delete", CR, _props(stack_secrets),
                                     physical_id=created["PhysicalResourceId"])
    assert deleted["Status"] == "SUCCESS"
    sm = aws.client("secretsmanager")
    for secret_id in (stack_secrets["source"], stack_secrets["target"]):
        assert sm.describe_secret(SecretId=secret_id).get("DeletedDate") is None


def test_other_fields_of_the_target_stay(client: Client, stack_secrets: dict[str, str]) -> None:
    aws.client("secretsmanager").put_secret_value(
        SecretId=stack_secrets["target"],
        SecretString=json.dumps({"password": "old", "username": "AKIAEXAMPLE1234567890"}))
    created = client.custom_resource("Create", CR, _props(stack_secrets))
    assert created["Status"] == "SUCCESS", created["Reason"]
    assert _value(stack_secrets["target"]) == {
        "password": smtp_password(IAM_SECRET, "us-east-1"), "username": "AKIAEXAMPLE1234567890"}


def test_a_renewed_source_key_is_derived_again(client: Client,
                                               stack_secrets: dict[str, str]) -> None:
    first = client.custom_resource("Create", CR, _props(stack_secrets))
    aws.client("secretsmanager").put_secret_value(
        SecretId=stack_secrets["source"], SecretString=json.dumps({"password": "new/KEY+2"}))
    again = client.custom_resource("Update", CR, _props(stack_secrets),
                                   old_properties=_props(stack_secrets),
                                   physical_id=first["PhysicalResourceId"])
    assert again["Status"] == "SUCCESS"
    assert _value(stack_secrets["target"]) == {"password": smtp_password("new/KEY+2", "us-east-1")}


def test_field_names_default_and_names_work_too(client: Client, moto_aws: None) -> None:
    """By name instead of ARN, the default source field (SecretAccessKey), and the whole
    credential object (which needs the access key id) when no SecretField is given."""
    sm = aws.client("secretsmanager")
    sm.create_secret(Name="app/iam-key", SecretString=json.dumps(
        {"SecretAccessKey": IAM_SECRET, "AccessKeyId": "AKIAEXAMPLE123456789"}))
    field_only = client.custom_resource("Create", CR, {
        "SourceSecretId": "app/iam-key", "SecretName": "app/smtp-pass", "SecretField": "pw"},
        logical_id="FieldOnly")
    assert field_only["Status"] == "SUCCESS", field_only["Reason"]
    assert _value("app/smtp-pass") == {"pw": smtp_password(IAM_SECRET, "us-east-1")}
    whole = client.custom_resource("Create", CR, {"SourceSecretId": "app/iam-key",
                                                  "SecretName": "app/smtp"}, logical_id="Whole")
    assert whole["Status"] == "SUCCESS", whole["Reason"]
    assert _value("app/smtp")["username"] == "AKIAEXAMPLE123456789"


@pytest.mark.parametrize(("change", "reason"), [
    ({"SourceSecretKeyField": "SecretAccessKey"},
     "the source secret holds no secret access key (properties.SourceSecretKeyField: field "
     "'SecretAccessKey' not found in the secret)"),
    ({"SecretField": None}, "no access key id: set AccessKeyId or SourceAccessKeyIdField, or "
                            "SecretField to write the password only"),
    ({"SecretName": "arn:aws:secretsmanager:us-east-1:123456789012:secret:missing-AbCdEf"},
     "the target secret does not exist"),
    ({"SourceSecretId": "arn:aws:secretsmanager:us-east-1:123456789012:secret:gone-AbCdEf"},
     "the source secret does not exist"),
    ({"SecretName": "not a name!"}, "properties.SecretName"),
    ({"SecretField": "pass word"}, "properties.SecretField"),
])
def test_stack_input_failures_are_clear(client: Client, stack_secrets: dict[str, str],
                                        change: dict[str, Any], reason: str) -> None:
    props = {k: v for k, v in {**_props(stack_secrets), **change}.items() if v is not None}
    sm = aws.client("secretsmanager")
    before = sm.get_secret_value(SecretId=stack_secrets["target"])["SecretString"]
    failed = client.custom_resource("Create", CR, props)
    assert failed["Status"] == "FAILED" and reason in failed["Reason"], failed["Reason"]
    assert IAM_SECRET not in failed["Reason"]
    assert sm.get_secret_value(SecretId=stack_secrets["target"])["SecretString"] == before


def test_the_user_variant_needs_the_identity(client: Client, moto_aws: None) -> None:
    failed = client.custom_resource("Create", CR, {"UserName": "mailer"})
    assert failed["Status"] == "FAILED" and "IdentityArn" in failed["Reason"]
    bad = client.custom_resource("Create", CR, {"UserName": "mailer", "IdentityArn": "*"})
    assert bad["Status"] == "FAILED" and "properties.IdentityArn" in bad["Reason"]
    iam = aws.client("iam")
    assert iam.list_users()["Users"] == []
