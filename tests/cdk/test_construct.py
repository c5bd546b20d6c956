"""``OpsFunction`` in its other layout (its own EFS, opsfn's SMTP user, JWT operators) and the
mistakes its helpers refuse before anything is deployed.

The example app (test_example_app.py) covers the OpenEMR layout; here one more stack is
synthesized in process: the function's own access point holds the TLS materials and is the
in-function sync's source, and the operator routes take a JWT authorizer of a user pool.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from opsfn.handler import app
from opsfn.tooling.ops_rules import Checker
from opsfn.tooling.template_reader import referenced

from .conftest import cdk_missing, node_environment

IDENTITY = "arn:aws:ses:us-east-1:111111111111:identity/example.com"


@pytest.fixture(scope="module")
def cdk() -> Iterator[Any]:
    reason = cdk_missing()
    if reason:
        pytest.skip(reason)
    with pytest.MonkeyPatch.context() as patch:  # before jsii starts its node, in this process
        for name in ("PATH", "JSII_NODE"):
            patch.setenv(name, node_environment()[name])
        import aws_cdk

        yield aws_cdk


@pytest.fixture(scope="module")
def tiny_code(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tree with the handler's path, enough for the asset (these stacks are never deployed)."""
    tree = tmp_path_factory.mktemp("code")
    (tree / "opsfn").mkdir()
    (tree / "opsfn" / "handler.py").write_text("def lambda_handler(event, context): ...\n")
    return tree


@pytest.fixture(scope="module")
def other(cdk: Any, tiny_code: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from aws_cdk import aws_ec2 as ec2
    from aws_cdk import aws_efs as efs
    from aws_cdk import aws_kms as kms
    from aws_cdk import aws_rds as rds

    from opsfn.cdk import OpsFunction

    out = tmp_path_factory.mktemp("other.out")
    cdk_app = cdk.App(outdir=str(out))
    stack = cdk.Stack(cdk_app, "OtherLayout")

    vpc = ec2.Vpc(stack, "Vpc", max_azs=2, nat_gateways=1, restrict_default_security_group=False)
    files = efs.FileSystem(stack, "Files", vpc=vpc)
    ops = OpsFunction(stack, "Ops", code=tiny_code, vpc=vpc, default_auth="jwt",
                      function_url=True, alert_email="oncall@example.com", architecture="x86_64",
                      tracing=True, service_name="clinic-ops", metrics_namespace="Clinic")
    ops.mount_efs(files)
    ops.ssl_materials(properties={"ValidityDays": 90})
    smtp = ops.smtp_credential(user_name="opsfn-smtp", identity_arn=IDENTITY,
                               kms_key=kms.Key(stack, "SecretsKey"))
    instance = rds.DatabaseInstance.from_database_instance_attributes(
        stack, "Db", instance_identifier="legacy-db", instance_endpoint_address="db.internal",
        port=3306, security_groups=[])
    ops.rds_export(instance=instance, kms_key=kms.Key(stack, "ExportKey"))
    cdk.CfnOutput(stack, "SmtpSecretArn", value=smtp.get_att_string("SecretArn"))
    # A rule set made elsewhere, by name; activated first, then given the relay rule.
    ops.active_receipt_rule_set("inbound-rules", restore_previous_on_delete=False)
    ops.inbound_relay("inbound-rules", forward_to=["a@example.org", "b@example.org"],
                      forward_from="relay@mail.example.com", tls_policy="Optional")
    cdk_app.synth()
    path = out / "OtherLayout.template.json"
    return {"path": path, "template": json.loads(path.read_text())}


def _function(template: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    ((name, function),) = ((n, r) for n, r in template["Resources"].items()
                           if r["Type"] == "AWS::Lambda::Function")
    return name, function["Properties"]


def _of_type(template: dict[str, Any], kind: str) -> dict[str, Any]:
    return {n: r for n, r in template["Resources"].items() if r["Type"] == kind}


def test_the_other_layout_has_no_drift_and_lints_clean(other: dict[str, Any]) -> None:
    from cfnlint.api import lint_file

    assert Checker(app, other["template"]).run() == []
    assert [f"{m.rule.id} {m.message}" for m in lint_file(other["path"])] == []


def test_its_own_efs_holds_tls_and_is_the_sync_source(other: dict[str, Any]) -> None:
    template = other["template"]
    _, props = _function(template)
    env = props["Environment"]["Variables"]
    assert props["Architectures"] == ["x86_64"]
    assert env["SYNC_SOURCE_DIR"] == "/mnt/opsfn" and env["SYNC_ENGINE"] == "function"
    assert (env["SSL_DIR"], env["SSL_ACCESS_POINT_UID"]) == ("/mnt/opsfn/ssl", "1000")
    assert props["FileSystemConfigs"][0]["LocalMountPath"] == "/mnt/opsfn"
    (point,) = _of_type(template, "AWS::EFS::AccessPoint").values()
    assert point["Properties"]["RootDirectory"] == {
        "Path": "/opsfn", "CreationInfo": {"OwnerUid": "1000", "OwnerGid": "1000",
                                           "Permissions": "0750"}}
    (policy,) = (p["Properties"] for p in _of_type(template, "AWS::IAM::Policy").values()
                 if p["Properties"]["PolicyName"] == "efs")
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Sid"] == "MountThroughTheAccessPointOnly"
    assert "elasticfilesystem:ClientRootAccess" not in json.dumps(template)
    ssl = next(iter(_of_type(template, "Custom::SslMaterials").values()))["Properties"]
    assert ssl["ValidityDays"] == 90
    enabled = {s["Properties"]["Name"] for s in _of_type(template, "AWS::Scheduler::Schedule").values()
               if s["Properties"]["State"] == "ENABLED"}
    assert enabled == {"rotate-ssl-materials", "sync-efs-to-s3", "finish-smtp-rotation",
                       "export-rds-snapshot"}
    assert env["RDS_EXPORT_INSTANCE_ID"] == "legacy-db" and env["RDS_EXPORT_SOURCE"] == "snapshot"
    assert "RDS_EXPORT_CLUSTER_ARN" not in env


def _route_policy(template: dict[str, Any], name: str) -> dict[str, Any]:
    """The routes role's inline policy ``name`` (made from the routes' declarations)."""
    _, props = _function(template)
    (routes_role,) = {v for v in json.dumps(props["Environment"]["Variables"][
        "OPSFN_ROUTES_ROLE_ARN"]).split('"') if v in template["Resources"]}
    policy: dict[str, Any] = next(p for p in template["Resources"][routes_role]["Properties"][
        "Policies"] if p["PolicyName"] == name)
    return policy


def test_opsfns_own_smtp_user(other: dict[str, Any]) -> None:
    template = other["template"]
    _, props = _function(template)
    (smtp,) = _of_type(template, "Custom::SmtpCredential").values()
    assert smtp["Properties"]["UserName"] == "opsfn-smtp"
    assert smtp["Properties"]["IdentityArn"] == IDENTITY
    assert props["Environment"]["Variables"]["SES_SMTP_SECRET_ID"] == smtp["Properties"]["SecretName"]
    policy = _route_policy(template, "ses")
    sids = {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"] if "Sid" in s}
    assert set(sids) == {"SmtpUserCredentialSecret", "SmtpIamUserOnly",
                         "SmtpSecretsKeyThroughSecretsManager",
                         "SesReceiptRuleSetsHaveNoResourceLevelPermissions",
                         "ReadReceivedMail", "SendOnlyAsTheForwardingIdentity"}
    assert "-??????" in json.dumps(sids["SmtpUserCredentialSecret"]["Resource"])
    assert "SmtpSecretArn" in template["Outputs"]


def test_a_rule_set_named_by_string_waits_for_the_relay_rule(other: dict[str, Any]) -> None:
    template = other["template"]
    _, props = _function(template)
    env = props["Environment"]["Variables"]
    assert env["SES_FORWARD_TO"] == "a@example.org,b@example.org"
    (rule_name, rule), = _of_type(template, "AWS::SES::ReceiptRule").items()
    assert rule["Properties"]["RuleSetName"] == "inbound-rules"
    assert rule["Properties"]["Rule"]["TlsPolicy"] == "Optional"
    (activation,) = _of_type(template, "Custom::ActiveReceiptRuleSet").values()
    assert activation["Properties"]["RuleSetName"] == "inbound-rules"
    assert activation["Properties"]["RestorePreviousOnDelete"] is False
    assert rule_name in activation["DependsOn"]
    policy = _route_policy(template, "ses")
    send = next(s for s in policy["PolicyDocument"]["Statement"]
                if s.get("Sid") == "SendOnlyAsTheForwardingIdentity")
    identities = json.dumps(send["Resource"])
    assert ':identity/relay@mail.example.com"' in identities
    assert ':identity/mail.example.com"' in identities
    assert send["Condition"] == {"StringEquals": {"ses:FromAddress": "relay@mail.example.com"}}


def test_tracing_and_the_names_of_logs_and_metrics(other: dict[str, Any]) -> None:
    template = other["template"]
    _, props = _function(template)
    env = props["Environment"]["Variables"]
    assert props["TracingConfig"] == {"Mode": "Active"} and env["OPSFN_TRACING"] == "true"
    assert (env["POWERTOOLS_SERVICE_NAME"], env["POWERTOOLS_METRICS_NAMESPACE"]) == \
        ("clinic-ops", "Clinic")
    statements = [s for policy in _of_type(template, "AWS::IAM::Role").values()
                  for p in policy["Properties"].get("Policies", [])
                  for s in p["PolicyDocument"]["Statement"]]
    xray = [s for s in statements if s.get("Sid") == "XRayHasNoResourceLevelPermissions"]
    assert len(xray) == 1 and xray[0]["Resource"] == "*"
    (undelivered,) = (a["Properties"] for a in _of_type(template, "AWS::CloudWatch::Alarm").values()
                      if a["Properties"].get("MetricName") == "CustomResourceAnswersUndelivered")
    assert undelivered["Namespace"] == "Clinic"
    assert undelivered["Dimensions"] == [{"Name": "service", "Value": "clinic-ops"}]


def test_operators_sign_in_through_the_user_pools_jwt(other: dict[str, Any]) -> None:
    template = other["template"]
    name, props = _function(template)
    assert props["Environment"]["Variables"]["OPSFN_DEFAULT_AUTH"] == "jwt"
    (authorizer_name, authorizer), = _of_type(template, "AWS::ApiGatewayV2::Authorizer").items()
    assert authorizer["Properties"]["AuthorizerType"] == "JWT"
    pool = set(_of_type(template, "AWS::Cognito::UserPool"))
    assert pool and pool <= referenced(authorizer["Properties"]["JwtConfiguration"]["Issuer"])
    routes = {r["Properties"]["RouteKey"]: r["Properties"]
              for r in _of_type(template, "AWS::ApiGatewayV2::Route").values()}
    assert routes["POST /database/start"]["AuthorizationType"] == "JWT"
    assert routes["POST /database/start"]["AuthorizerId"] == {"Ref": authorizer_name}
    assert routes["GET /health"]["AuthorizationType"] == "NONE"
    (url,) = _of_type(template, "AWS::Lambda::Url").values()
    assert url["Properties"]["AuthType"] == "AWS_IAM"
    assert url["Properties"]["Qualifier"] == "live"  # the alias, as every other trigger
    # The function checks the JWT again only if its setting says jwt: the check holds them together.
    mismatched = json.loads(json.dumps(template))
    mismatched["Resources"][name]["Properties"]["Environment"]["Variables"]["OPSFN_DEFAULT_AUTH"] = "iam"
    problems = Checker(app, mismatched).run()
    assert len(problems) == 3 and all("admits jwt but the function's OPSFN_DEFAULT_AUTH is 'iam'"
                                      in p for p in problems)


def test_helpers_refuse_what_cannot_be_deployed(cdk: Any, tiny_code: Path) -> None:
    from aws_cdk import aws_ec2 as ec2
    from aws_cdk import aws_efs as efs
    from aws_cdk import aws_kms as kms
    from aws_cdk import aws_rds as rds
    from aws_cdk import aws_secretsmanager as secretsmanager

    from opsfn.cdk import OpsFunction

    stack = cdk.Stack(cdk.App(), "Refusals")
    no_vpc = OpsFunction(stack, "NoVpc", code=tiny_code)
    vpc = ec2.Vpc(stack, "Vpc", max_azs=1, nat_gateways=0)
    files = efs.FileSystem(stack, "Files", vpc=vpc)
    with pytest.raises(ValueError, match="needs the function in a VPC"):
        no_vpc.ssl_materials(files)
    with pytest.raises(ValueError, match="needs mount_efs"):
        no_vpc.ssl_materials()
    source = secretsmanager.Secret(stack, "Source")
    with pytest.raises(ValueError, match="not both"):
        no_vpc.smtp_credential(source_secret=source, target_secret=source, user_name="u",
                               identity_arn=IDENTITY)
    with pytest.raises(ValueError, match="not both"):
        no_vpc.smtp_credential()
    with pytest.raises(ValueError, match="go together"):
        no_vpc.smtp_credential(source_secret=source)
    with pytest.raises(ValueError, match="needs identity_arn"):
        no_vpc.smtp_credential(user_name="u")
    with pytest.raises(ValueError, match="give cluster or instance"):
        no_vpc.rds_export(kms_key=kms.Key(stack, "Key"))
    instance = rds.DatabaseInstance.from_database_instance_attributes(
        stack, "Db", instance_identifier="db", instance_endpoint_address="db.internal", port=3306,
        security_groups=[])
    with pytest.raises(ValueError, match="exports a DB cluster"):
        no_vpc.rds_export(kms_key=kms.Key(stack, "Key2"), instance=instance, source="cluster")
    with pytest.raises(ValueError, match="1 to 50"):
        no_vpc.inbound_relay("rules", forward_to=[], forward_from="relay@example.com")
    with pytest.raises(ValueError, match="one address"):
        no_vpc.inbound_relay("rules", forward_to=["a@example.com"], forward_from="example.com")
    no_vpc.inbound_relay("rules", forward_to=["a@example.com"], forward_from="relay@example.com")
    with pytest.raises(ValueError, match="already configured"):
        no_vpc.inbound_relay("rules", forward_to=["a@example.com"], forward_from="relay@example.com")
    with pytest.raises(ValueError, match="architecture"):
        OpsFunction(stack, "Sparc", code=tiny_code, architecture="sparc")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least 1: 0 throttles every invocation"):
        OpsFunction(stack, "Throttled", code=tiny_code, reserved_concurrency=0)

    snap = OpsFunction(stack, "Snap", code=tiny_code, vpc=vpc, snap_start=True)
    with pytest.raises(ValueError, match="SnapStart does not support EFS"):
        snap.mount_efs(files)
    with pytest.raises(ValueError, match="SnapStart does not support EFS"):
        snap.ssl_materials(files)
    snap.sync_with_datasync(files)  # DataSync reads the file system; the function mounts nothing

    in_vpc = OpsFunction(stack, "InVpc", code=tiny_code, vpc=vpc)
    with pytest.raises(ValueError, match="needs a file system"):
        in_vpc.sync_with_datasync()
    in_vpc.ssl_materials(files)
    with pytest.raises(ValueError, match="mounts one"):
        in_vpc.mount_efs(files)
    with pytest.raises(ValueError, match="holds the private key; it is never synced"):
        in_vpc.sync_with_datasync(files)
    with pytest.raises(ValueError, match="needs a file system"):
        in_vpc.sync_with_datasync()  # the SSL file system is not the default source either
    in_vpc.smtp_credential(user_name="u", identity_arn=IDENTITY)
    with pytest.raises(ValueError, match="already configured"):
        in_vpc.smtp_credential(user_name="v", identity_arn=IDENTITY)

    own = OpsFunction(stack, "OwnMount", code=tiny_code, vpc=vpc)
    own.mount_efs(efs.FileSystem(stack, "OwnFiles", vpc=vpc))
    own.sync_with_datasync()
    env = own.environment
    assert (env["SYNC_ENGINE"], env["SYNC_SOURCE_DIR"], env["SYNC_DATASYNC_EFS_SUBDIRECTORY"]) == (
        "datasync", "/mnt/opsfn", "/opsfn")  # the access point's directory, seen at the mount


@pytest.fixture(scope="module")
def operations(cdk: Any, tiny_code: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A stack with the template's operations parameters on: SnapStart, reserved concurrency,
    access logs."""
    from opsfn.cdk import OpsFunction

    out = tmp_path_factory.mktemp("operations.out")
    cdk_app = cdk.App(outdir=str(out))
    stack = cdk.Stack(cdk_app, "Operations")
    OpsFunction(stack, "Ops", code=tiny_code, snap_start=True, reserved_concurrency=3,
                api_access_logs=True)
    cdk_app.synth()
    path = out / "Operations.template.json"
    return {"path": path, "template": json.loads(path.read_text())}


def _operations_problems(template: dict[str, Any]) -> list[str]:
    """The drift check's findings on SnapStart, concurrency and access logs (this stack has no
    file system or SES, so the routes that need them are reported too and left out here)."""
    return [p for p in Checker(app, template).run()
            if "SnapStart" in p or "ReservedConcurrentExecutions" in p or "access log" in p]


def test_snap_start_and_reserved_concurrency(operations: dict[str, Any]) -> None:
    from cfnlint.api import lint_file

    template = operations["template"]
    name, props = _function(template)
    assert props["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    assert props["ReservedConcurrentExecutions"] == 3
    (alias,) = _of_type(template, "AWS::Lambda::Alias").values()
    version = alias["Properties"]["FunctionVersion"]["Fn::GetAtt"][0]
    assert _of_type(template, "AWS::Lambda::Version")[version]["Properties"] == {
        "FunctionName": {"Ref": name}}  # SnapStart snapshots this version
    assert [f"{m.rule.id} {m.message}" for m in lint_file(operations["path"])] == []
    assert _operations_problems(template) == []
    mounted = json.loads(json.dumps(template))
    mounted["Resources"][name]["Properties"]["FileSystemConfigs"] = [
        {"Arn": "arn:aws:elasticfilesystem:us-east-1:1:access-point/fsap-1",
         "LocalMountPath": "/mnt/opsfn"}]
    mounted["Resources"][name]["Properties"]["ReservedConcurrentExecutions"] = 0
    problems = _operations_problems(mounted)
    assert len(problems) == 2
    assert any("SnapStart does not support EFS" in p for p in problems)
    assert any("ReservedConcurrentExecutions is 0" in p for p in problems)


def test_access_logs_name_no_request_content_or_caller(operations: dict[str, Any]) -> None:
    from opsfn.cdk.access_logs import FIELDS

    template = operations["template"]
    (stage,) = _of_type(template, "AWS::ApiGatewayV2::Stage").values()
    settings = stage["Properties"]["AccessLogSettings"]
    assert json.loads(settings["Format"]) == FIELDS
    (group,) = referenced(settings["DestinationArn"])
    assert template["Resources"][group]["Properties"]["RetentionInDays"] == 30
    leaky = json.loads(json.dumps(template))
    leaky_stage = next(r for r in leaky["Resources"].values()
                       if r["Type"] == "AWS::ApiGatewayV2::Stage")
    leaky_stage["Properties"]["AccessLogSettings"]["Format"] = json.dumps(
        {**FIELDS, "ip": "$context.identity.sourceIp", "path": "$context.path"})
    (problem,) = _operations_problems(leaky)
    assert "$context.identity.sourceIp" in problem and "$context.path" in problem
