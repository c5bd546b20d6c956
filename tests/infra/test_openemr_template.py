"""The template with the OpenEMR stack's parameters (docs/openemr.md), evaluated for real values.

The intrinsics are resolved with the local stack's evaluator, so each check reads what
CloudFormation would create: the mount and its access point, the environment, the IAM statements
that follow the secrets and file systems given, and the custom resources' properties.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from opsfn.tooling.local.template_eval import ACCOUNT, Evaluator
from opsfn.tooling.template_reader import load_template

TEMPLATE = Path(__file__).resolve().parents[2] / "infra" / "template.yaml"
REGION = "us-east-1"
SSL_FS = "fs-0123456789abcdef0"
SITES_FS = "fs-0fedcba9876543210"
AP_ARN = f"arn:aws:elasticfilesystem:{REGION}:{ACCOUNT}:access-point/fsap-0ssl"
SOURCE = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:secretaccesskey4C1D2-AbCdEf"
TARGET = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:smtpsecretA1B2C3-GhIjKl"
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
NETWORK = {"SubnetIds": "subnet-0a,subnet-0b", "SecurityGroupIds": "sg-0efsonly"}
STACK = {**NETWORK, "SslFileSystemId": SSL_FS, "SmtpSourceSecretArn": SOURCE,
         "SmtpSourceSecretField": "password", "SmtpTargetSecretArn": TARGET,
         "SmtpTargetSecretField": "password", "SmtpSecretsKmsKeyArn": KEY,
         "ExportDbClusterId": "openemr-db", "ExportSource": "cluster",
         "ExportKmsKeyArn": KEY}
# Everything docs/openemr.md documents: the SSL file system mounted, DataSync on the sites one, the relay.
OPENEMR = {**STACK, "SyncEngine": "datasync", "DataSyncFileSystemId": SITES_FS,
           "DataSyncSubdirectory": "/", "ReceiptRuleSetName": "openemr-rules",
           "RelayForwardTo": "frontdesk@example.org", "RelayForwardFrom": "relay@example.org"}


class Stack:
    """The template evaluated for one set of parameters."""

    def __init__(self, parameters: dict[str, str]) -> None:
        self.template = load_template(TEMPLATE)
        attrs = {"SslAccessPoint": {"Arn": AP_ARN},
                 "EfsAccessPoint": {"Arn": AP_ARN.replace("0ssl", "0efs")}}
        self.ev = Evaluator(self.template, REGION, parameters, attrs=attrs)

    def resource(self, name: str) -> dict[str, Any] | None:
        found = self.template["Resources"][name]
        return self.ev.value(found["Properties"]) if self.ev.active(found) else None

    @property
    def function(self) -> dict[str, Any]:
        return self.resource("OpsFunction") or {}

    @property
    def env(self) -> dict[str, Any]:
        return dict(self.function["Environment"]["Variables"])

    def refused(self) -> set[str]:
        """The rules CloudFormation would refuse these parameters by."""
        return {name for name, spec in self.template["Rules"].items()
                if self.ev.value(spec["RuleCondition"]) is True
                and not all(self.ev.value(a["Assert"]) is True for a in spec["Assertions"])}

    def statements(self) -> dict[str, dict[str, Any]]:
        """The statements of the function's role and of the routes role, by Sid."""
        policies = [p for name in ("OpsFunctionRole", "RoutesRole")
                    for p in (self.resource(name) or {}).get("Policies") or []]
        return {s["Sid"]: s for policy in policies
                for s in policy["PolicyDocument"]["Statement"] if "Sid" in s}


def test_the_ssl_file_system_is_mounted_at_its_root_as_root() -> None:
    stack = Stack(STACK)
    assert stack.function["FileSystemConfigs"] == [{"Arn": AP_ARN, "LocalMountPath": "/mnt/ssl"}]
    access_point = stack.resource("SslAccessPoint")
    assert access_point == {"FileSystemId": SSL_FS, "PosixUser": {"Uid": "0", "Gid": "0"},
                            "RootDirectory": {"Path": "/"}}
    env = stack.env
    assert (env["SSL_DIR"], env["SSL_ACCESS_POINT_UID"], env["SSL_ACCESS_POINT_GID"]) == (
        "/mnt/ssl", "0", "0")
    assert "SYNC_SOURCE_DIR" not in env  # nothing else is mounted
    statements = stack.statements()
    fs_arn = f"arn:aws:elasticfilesystem:{REGION}:{ACCOUNT}:file-system/{SSL_FS}"
    only_ap = {"StringEquals": {"elasticfilesystem:AccessPointArn": AP_ARN}}
    mount = statements["MountTheSslFileSystemThroughItsAccessPointOnly"]
    assert (mount["Resource"], mount["Condition"]) == (fs_arn, only_ap)
    root = statements["RootThroughTheSslAccessPointOnly"]
    assert (root["Action"], root["Resource"], root["Condition"]) == (
        "elasticfilesystem:ClientRootAccess", fs_arn, only_ap)
    assert "MountThroughTheAccessPointOnly" not in statements
    assert stack.resource("SslMaterials") is not None


def test_a_non_root_access_point_gets_no_root_access_and_both_file_systems_mount_one() -> None:
    stack = Stack({**STACK, "SslAccessPointUid": "1000", "SslAccessPointGid": "1000",
                   "EfsFileSystemId": SITES_FS})
    assert stack.function["FileSystemConfigs"][0]["LocalMountPath"] == "/mnt/ssl"
    assert stack.env["SSL_ACCESS_POINT_UID"] == "1000"
    assert "RootThroughTheSslAccessPointOnly" not in stack.statements()
    sites_only = Stack({**NETWORK, "EfsFileSystemId": SITES_FS})
    assert sites_only.function["FileSystemConfigs"][0]["LocalMountPath"] == "/mnt/opsfn"
    assert (sites_only.env["SSL_DIR"], sites_only.env["SYNC_SOURCE_DIR"]) == (
        "/mnt/opsfn/ssl", "/mnt/opsfn")
    assert sites_only.resource("SslAccessPoint") is None


def test_secrets_manager_permissions_follow_the_secrets_given() -> None:
    stack = Stack(STACK)
    statements = stack.statements()
    secret_statements = {sid: s for sid, s in statements.items()
                         if any(str(a).startswith("secretsmanager:") for a in _list(s["Action"]))}
    assert {sid: (sorted(_list(s["Action"])), s["Resource"])
            for sid, s in secret_statements.items()} == {
        "SmtpSourceSecretReadOnly": (["secretsmanager:GetSecretValue"], SOURCE),
        "SmtpTargetSecret": (["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue",
                              "secretsmanager:PutSecretValue"], TARGET)}
    kms = statements["SmtpSecretsKeyThroughSecretsManager"]
    assert (kms["Resource"], kms["Condition"]) == (KEY, {"StringEquals": {
        "kms:ViaService": f"secretsmanager.{REGION}.amazonaws.com"}})
    derived = stack.resource("SmtpDerivedCredential")
    assert derived is not None and {k: v for k, v in derived.items() if k != "ServiceToken"} == {
        "SourceSecretId": SOURCE, "SourceSecretKeyField": "password", "SecretName": TARGET,
        "SecretField": "password"}
    assert stack.resource("SmtpCredential") is None and "SES_SMTP_SECRET_ID" not in stack.env


def test_the_user_variant_is_scoped_to_its_secret_and_identity() -> None:
    identity = f"arn:aws:ses:{REGION}:{ACCOUNT}:identity/example.org"
    stack = Stack({"SmtpUserName": "ses-smtp", "SmtpIdentityArn": identity,
                   "SmtpSecretName": "openemr/smtp"})
    statements = stack.statements()
    secret = statements["SmtpUserCredentialSecret"]
    assert secret["Resource"] == (f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:"
                                  "openemr/smtp-??????")
    assert "secretsmanager:UpdateSecretVersionStage" in secret["Action"]
    credential = stack.resource("SmtpCredential")
    assert credential is not None
    assert (credential["IdentityArn"], credential["SecretName"]) == (identity, "openemr/smtp")
    assert stack.env["SES_SMTP_SECRET_ID"] == "openemr/smtp"
    schedule = stack.function["Events"]["FinishSmtpRotation"]["Properties"]
    assert (schedule["Name"], schedule["State"]) == ("finish-smtp-rotation", "ENABLED")
    default = Stack({"SmtpUserName": "ses-smtp", "SmtpIdentityArn": identity})
    assert default.env["SES_SMTP_SECRET_ID"] == "opsfn/opsfn-local/smtp"
    assert "SmtpSourceSecretReadOnly" not in statements


def test_without_smtp_or_rule_set_there_is_no_secrets_policy() -> None:
    stack = Stack({})
    for name in ("OpsFunctionRole", "RoutesRole"):
        role = stack.resource(name) or {}
        assert "smtp-and-ses" not in {p["PolicyName"] for p in role.get("Policies") or []}
    events = stack.function["Events"]
    assert events["FinishSmtpRotation"]["Properties"]["State"] == "DISABLED"


def test_the_live_cluster_export_gets_the_cluster_arn() -> None:
    env = Stack(STACK).env
    assert env["RDS_EXPORT_SOURCE"] == "cluster"
    assert env["RDS_EXPORT_CLUSTER_ARN"] == f"arn:aws:rds:{REGION}:{ACCOUNT}:cluster:openemr-db"
    assert Stack({}).env["RDS_EXPORT_SOURCE"] == "snapshot"


def test_the_documented_parameters_pass_every_rule_and_sync_the_sites_file_system() -> None:
    stack = Stack(OPENEMR)
    assert stack.refused() == set()
    env = stack.env
    assert stack.function["FileSystemConfigs"] == [{"Arn": AP_ARN, "LocalMountPath": "/mnt/ssl"}]
    assert env["SSL_DIR"] == "/mnt/ssl"
    sites_arn = f"arn:aws:elasticfilesystem:{REGION}:{ACCOUNT}:file-system/{SITES_FS}"
    assert (env["SYNC_ENGINE"], env["SYNC_DATASYNC_EFS_ARN"],
            env["SYNC_DATASYNC_EFS_SUBDIRECTORY"]) == ("datasync", sites_arn, "/")
    assert env["SYNC_DATASYNC_SUBNET_ARN"].endswith(":subnet/subnet-0a")
    assert env["SYNC_DATASYNC_SECURITY_GROUP_ARNS"].endswith(":security-group/sg-0efsonly")
    # The SSL file system is not copied: DataSync reads the sites one only, the walk has no source.
    assert "SYNC_SOURCE_DIR" not in env
    assert not [k for k, v in env.items() if k.startswith("SYNC_") and SSL_FS in str(v)]
    role = stack.resource("DataSyncRole") or {}
    (read,) = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]
               if s.get("Sid") == "ReadTheFileSystem"]
    assert read["Resource"] == sites_arn
    events = stack.function["Events"]
    assert events["SyncEfsToS3"]["Properties"]["State"] == "ENABLED"
    assert events["RotateSslMaterials"]["Properties"]["State"] == "ENABLED"
    assert (env["SES_FORWARD_TO"], env["SES_FORWARD_FROM"]) == (
        "frontdesk@example.org", "relay@example.org")
    assert stack.resource("SslMaterials") is not None


@pytest.mark.parametrize(("parameters", "rule"), [
    ({"SmtpUserName": "ses-smtp"}, "SmtpUserNeedsAnIdentity"),
    ({"SmtpSourceSecretArn": SOURCE}, "SmtpDeriveNeedsBothSecrets"),
    ({**OPENEMR, "DataSyncFileSystemId": SSL_FS}, "DataSyncNeverCopiesTheSslFileSystem"),
    ({**OPENEMR, "DataSyncFileSystemId": "", "EfsFileSystemId": SSL_FS},
     "DataSyncNeverCopiesTheSslFileSystem"),
    ({**OPENEMR, "DataSyncFileSystemId": ""}, "DataSyncNeedsAFileSystem"),
    ({**NETWORK, "SyncEngine": "datasync"}, "DataSyncNeedsAFileSystem"),
])
def test_rules_refuse_half_configurations(parameters: dict[str, str], rule: str) -> None:
    stack = Stack(parameters)
    spec = stack.template["Rules"][rule]
    assert stack.ev.value(spec["RuleCondition"]) is True
    assert stack.refused() == {rule}
    complete = Stack({**OPENEMR, "SmtpUserName": "u", "SmtpIdentityArn": f"arn:aws:ses:{REGION}:"
                      f"{ACCOUNT}:identity/x.org"})
    assert all(complete.ev.value(a["Assert"]) for a in complete.template["Rules"][rule]["Assertions"])


@pytest.mark.parametrize("datasync_fs", ["", SSL_FS, SITES_FS])
@pytest.mark.parametrize("efs_fs", ["", SSL_FS, SITES_FS])
def test_the_datasync_rules_refuse_what_the_template_would_copy(datasync_fs: str,
                                                                efs_fs: str) -> None:
    """The rules spell out the template's pick (DataSyncFileSystemId, else EfsFileSystemId)."""
    stack = Stack({**OPENEMR, "DataSyncFileSystemId": datasync_fs, "EfsFileSystemId": efs_fs})
    copied = stack.env["SYNC_DATASYNC_EFS_ARN"].rsplit("/", 1)[1]
    expected = {"": {"DataSyncNeedsAFileSystem"}, SSL_FS: {"DataSyncNeverCopiesTheSslFileSystem"},
                SITES_FS: set()}[copied]
    assert stack.refused() == expected
    assert Stack({**OPENEMR, "SyncEngine": "function", "DataSyncFileSystemId": datasync_fs,
                  "EfsFileSystemId": efs_fs}).refused() == set()


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
