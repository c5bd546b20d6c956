"""The synthesized custom resources, as CloudFormation sends them, answered by the real handler.

CloudFormation resolves each resource's properties and passes every scalar as a string; the
function then gets the ``ServiceToken``'s request and answers the ResponseURL. Here the
properties come from the synthesized example (intrinsics resolved against resources made in
moto, as they would be in the account), so a property name or shape the routes do not accept
fails here, not in a deployment.
"""

from __future__ import annotations

import json
import secrets
import stat
import string
from pathlib import Path
from typing import Any

import pytest

from opsfn.handler import app
from opsfn.routes.ses.smtp_password import smtp_password
from opsfn.services import aws
from opsfn.testing import Client
from opsfn.tooling.local.template_eval import ACCOUNT, Evaluator

from .conftest import Synthesized

REGION = "us-east-1"


def as_sent(value: Any) -> Any:
    """What CloudFormation hands a custom resource: scalars as strings."""
    if isinstance(value, dict):
        return {k: as_sent(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_sent(v) for v in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


def _logical(synth: Synthesized, kind: str) -> str:
    (name,) = synth.of_type(kind)
    return name


def _properties(synth: Synthesized, kind: str, refs: dict[str, str]) -> dict[str, Any]:
    (resource,) = synth.of_type(kind).values()
    (function,) = synth.of_type("AWS::Lambda::Function")
    (alias,) = synth.of_type("AWS::Lambda::Alias")
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:opsfn"
    props = Evaluator(synth.template, REGION, refs={**refs, alias: f"{arn}:live"},
                      attrs={function: {"Arn": arn}}).value(resource["Properties"])
    assert isinstance(props, dict) and props.pop("ServiceToken") == f"{arn}:live"  # the alias
    assert None not in props.values(), props  # every reference resolved
    return as_sent(props)  # type: ignore[no-any-return]


def test_the_receipt_rule_set_is_made_active(synthesized: Synthesized, moto_aws: None) -> None:
    ses = aws.client("ses")
    ses.create_receipt_rule_set(RuleSetName="openemr-inbound")
    props = _properties(synthesized, "Custom::ActiveReceiptRuleSet",
                        {_logical(synthesized, "AWS::SES::ReceiptRuleSet"): "openemr-inbound"})
    assert props == {"RuleSetName": "openemr-inbound", "RestorePreviousOnDelete": "true"}
    client = Client(app)
    created = client.custom_resource("Create", "Custom::ActiveReceiptRuleSet", props)
    assert created["Status"] == "SUCCESS", created["Reason"]
    assert ses.describe_active_receipt_rule_set()["Metadata"]["Name"] == "openemr-inbound"
    deleted = client.custom_resource("Delete", "Custom::ActiveReceiptRuleSet", props,
                                     physical_id=created["PhysicalResourceId"])
    assert deleted["Status"] == "SUCCESS"
    assert "Metadata" not in ses.describe_active_receipt_rule_set()  # none was active before


def test_the_smtp_password_is_derived_into_the_stacks_secret(
        synthesized: Synthesized, moto_aws: None, secret: Any) -> None:
    iam, sm = aws.client("iam"), aws.client("secretsmanager")
    iam.create_user(UserName="ses-smtp-user-OpenemrOpsStack")
    key = iam.create_access_key(UserName="ses-smtp-user-OpenemrOpsStack")["AccessKey"]
    secret(key["SecretAccessKey"])
    source = sm.create_secret(Name="SecretAccessKey270AE8F9-x1",
                              SecretString=json.dumps({"password": key["SecretAccessKey"]}))["ARN"]
    generated = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(32))
    target = sm.create_secret(Name="SmtpSecret8B1841F4-x1", SecretString=generated)["ARN"]
    refs = {name: source for name in synthesized.of_type("AWS::SecretsManager::Secret")
            if name.startswith("SecretAccessKey")}
    refs.update({name: target for name in synthesized.of_type("AWS::SecretsManager::Secret")
                 if name.startswith("SmtpSecret")})
    props = _properties(synthesized, "Custom::SmtpCredential", refs)
    assert props == {"SourceSecretId": source, "SourceSecretKeyField": "password",
                     "SecretName": target, "SecretField": "password"}
    created = Client(app).custom_resource("Create", "Custom::SmtpCredential", props)
    assert created["Status"] == "SUCCESS", created["Reason"]
    stored = json.loads(sm.get_secret_value(SecretId=target)["SecretString"])
    assert stored == {"password": secret(smtp_password(key["SecretAccessKey"], REGION))}
    assert key["SecretAccessKey"] not in json.dumps(created)


def test_the_tls_materials_land_where_the_container_reads_them(
        synthesized: Synthesized, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    function = next(iter(synthesized.of_type("AWS::Lambda::Function").values()))
    env = function["Properties"]["Environment"]["Variables"]
    assert env["SSL_DIR"] == "/mnt/ssl"  # the mount; here a directory stands in for it
    monkeypatch.setenv("SSL_DIR", str(tmp_path))
    monkeypatch.setenv("SSL_ACCESS_POINT_UID", env["SSL_ACCESS_POINT_UID"])
    monkeypatch.setenv("SSL_ACCESS_POINT_GID", env["SSL_ACCESS_POINT_GID"])
    props = _properties(synthesized, "Custom::SslMaterials", {})
    created = Client(app).custom_resource("Create", "Custom::SslMaterials", props)
    assert created["Status"] == "SUCCESS", created["Reason"]
    assert created["Data"]["KeyPath"] == str(tmp_path / "private" / "selfsigned.key.pem")
    for relative in ("private/selfsigned.key.pem", "private/webserver.key.pem",
                     "certs/selfsigned.cert.pem", "certs/webserver.cert.pem",
                     "docker-selfsigned-configured"):
        assert (tmp_path / relative).is_file(), relative
    assert stat.S_IMODE((tmp_path / "private" / "selfsigned.key.pem").stat().st_mode) == 0o600
