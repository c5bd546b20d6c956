"""Access declarations: what ``allow()`` accepts, how they travel through the manifest, and the
check that holds every AWS call of a route to them (with the real botocore hook, against moto)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from opsfn.access import ANY, allow, arn_pattern, bucket, objects, parameter, queue, secret, table
from opsfn.core import access
from opsfn.core.access_check import current_route, iam_action
from opsfn.core.app import App
from opsfn.core.router import Router
from opsfn.errors import UndeclaredAccess
from opsfn.handler import app as builtin_app
from opsfn.routes import builtin_routers, manifest
from opsfn.services import aws
from opsfn.testing import Client, invoke_event

BUCKET = "access-check-bucket"


@pytest.fixture(autouse=True)
def _deny(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSFN_ACCESS_CHECK", "deny")


# -- declarations ---------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", ["PutObject", "s3:", "s3 PutObject", "S3:PutObject", "s3:Put-Object"])
def test_an_action_is_service_colon_operation(bad: str) -> None:
    with pytest.raises(ValueError, match="service:Operation"):
        allow(bad, on=objects("B"))


def test_a_grant_names_its_resources_and_star_says_why() -> None:
    with pytest.raises(ValueError, match="names no resource"):
        allow("s3:GetObject")
    with pytest.raises(ValueError, match="needs why="):
        allow("rekognition:DetectLabels", on=ANY)
    grant = allow("rekognition:DetectLabels", on=ANY, why="no resource-level permission")
    assert grant.resources == (ANY,)


@pytest.mark.parametrize("bad", ["bucket", "Upload-Bucket", "1BUCKET", ""])
def test_resources_are_named_by_settings(bad: str) -> None:
    with pytest.raises(ValueError, match="setting"):
        table(bad)


def test_patterns_and_prefixes_are_checked() -> None:
    with pytest.raises(ValueError, match="arn:"):
        arn_pattern("arn:aws:s3:::fixed")
    with pytest.raises(ValueError, match="setting"):
        arn_pattern("arn:{partition}:ecs:{region}:{account}:service/{lower}/*")
    with pytest.raises(ValueError, match="prefix"):
        objects("B", "/rooted")
    with pytest.raises(ValueError, match="prefix"):
        objects("B", "a*")


def test_settings_of_a_grant_include_patterns_prefixes_and_conditions() -> None:
    grant = allow("ses:SendRawEmail", "s3:GetObject",
                  on=[objects("INBOX", "{INBOX_PREFIX}"),
                      arn_pattern("arn:{partition}:ses:{region}:{account}:identity/{DOMAIN}")],
                  when={"StringEquals": {"ses:FromAddress": "{FROM}"}})
    assert grant.settings() == ("INBOX", "INBOX_PREFIX", "DOMAIN", "FROM")


def test_flatten_keeps_order_and_drops_repeats() -> None:
    one = allow("s3:GetObject", on=objects("B"))
    two = allow("sns:Publish", on=queue("Q"))
    assert access.flatten([one, two, one, two]) == (one, two)
    with pytest.raises(TypeError, match="unpacked"):
        access.flatten([one, (two,)])  # type: ignore[list-item]


def test_grants_round_trip_through_json() -> None:
    grants = access.flatten([
        allow("s3:ListBucket", on=bucket("B")), allow("dynamodb:GetItem", on=table("T")),
        allow("secretsmanager:GetSecretValue", on=secret("S"), why="read"),
        allow("ssm:GetParameter", on=parameter("P")),
        allow("iam:PassRole", on=arn_pattern("arn:{partition}:iam::{account}:role/{ROLE}"),
              when={"StringEquals": {"iam:PassedToService": "backup.amazonaws.com"}}),
    ])
    text = json.dumps(access.to_json(grants))
    assert access.from_json(json.loads(text)) == grants


def test_the_manifest_carries_every_built_in_declaration() -> None:
    eager = [route for router in builtin_routers() for route in router.routes]
    lazy = {r.handler_name + r.label: r.access for r in builtin_app.registry.routes}
    for route in eager:
        assert lazy[route.handler_name + route.label] == route.access, route.label
    assert sum(1 for route in eager if route.access) >= 30


def test_prefixed_routes_keep_their_declarations() -> None:
    router = Router(auth="public")
    grant = allow("s3:GetObject", on=objects("B"))

    @router.get("/item", access=[grant])
    def item() -> dict[str, str]:
        return {}

    prefixed = App([("/v1", router)])
    assert [r.access for r in prefixed.registry.routes] == [(grant,)]


def test_manifest_entries_name_the_access() -> None:
    entry = next(e for e in manifest.builtin_entries() if e["function"] == "request_upload")
    assert entry["access"][0] == {"actions": ["s3:PutObject"], "resources": [
        {"kind": "bucket", "setting": "UPLOAD_BUCKET", "suffix": "/uploads/*"}]}


# -- actions of calls ----------------------------------------------------------------------------
@pytest.mark.parametrize(("service", "operation", "expected"), [
    ("s3", "ListObjectsV2", "s3:ListBucket"), ("s3", "HeadObject", "s3:GetObject"),
    ("s3", "PutObject", "s3:PutObject"), ("s3", "UploadPart", "s3:PutObject"),
    ("s3", "CopyObject", "s3:PutObject"), ("efs", "DescribeFileSystems",
                                           "elasticfilesystem:DescribeFileSystems"),
    ("dynamodb", "GetItem", "dynamodb:GetItem"), ("sesv2", "SendEmail", "ses:SendEmail"),
    ("cloudwatch", "GetMetricStatistics", "cloudwatch:GetMetricStatistics"),
    ("sqs", "SendMessageBatch", "sqs:SendMessage"), ("sns", "PublishBatch", "sns:Publish"),
])
def test_iam_actions_of_sdk_operations(service: str, operation: str, expected: str) -> None:
    assert iam_action(service, operation) == expected


# -- the check, through the real client hook ---------------------------------------------------------
def _app(declared: list[Any]) -> App:
    router = Router()

    @router.action("list_and_read", access=declared)
    def list_and_read() -> dict[str, Any]:
        assert current_route() is not None
        s3 = aws.client("s3")
        keys = [item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
        body = s3.get_object(Bucket=BUCKET, Key="a.txt")["Body"].read().decode()
        return {"keys": keys, "body": body}

    return App([router])


@pytest.fixture
def bucket_with_an_object(moto_aws: None) -> None:
    import boto3

    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="a.txt", Body=b"hello")


@pytest.mark.usefixtures("bucket_with_an_object")
def test_declared_calls_go_through() -> None:
    app = _app([allow("s3:ListBucket", on=bucket("B")), allow("s3:GetObject", on=objects("B"))])
    assert Client(app).handle(invoke_event("list_and_read")) == {"keys": ["a.txt"], "body": "hello"}


@pytest.mark.usefixtures("bucket_with_an_object")
def test_wildcard_actions_cover_their_operations() -> None:
    app = _app([allow("s3:List*", "s3:Get*", on=objects("B"))])
    assert Client(app).handle(invoke_event("list_and_read"))["body"] == "hello"


@pytest.mark.usefixtures("bucket_with_an_object")
def test_deny_refuses_an_undeclared_call_naming_route_and_action() -> None:
    app = _app([allow("s3:ListBucket", on=bucket("B"))])
    with pytest.raises(UndeclaredAccess) as info:
        Client(app).handle(invoke_event("list_and_read"))
    assert info.value.message == ("route action:list_and_read called s3:GetObject, which its "
                                  "access= does not declare")
    assert info.value.permanent


@pytest.mark.usefixtures("bucket_with_an_object")
def test_log_reports_each_route_and_action_once_with_a_metric(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("OPSFN_ACCESS_CHECK", "log")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    from opsfn.core import access_check

    monkeypatch.setattr(access_check, "_reported", set())
    app = _app([])
    client = Client(app)
    for _ in range(3):
        assert client.handle(invoke_event("list_and_read"))["body"] == "hello"
    out = capsys.readouterr().out  # the metrics (EMF documents)
    warnings = [r for r in caplog.records if r.getMessage() == "undeclared AWS call"]
    assert sorted(getattr(w, "aws_action", "") for w in warnings) == ["s3:GetObject",
                                                                     "s3:ListBucket"]
    assert {getattr(w, "route", "") for w in warnings} == {"action:list_and_read"}
    metrics = [json.loads(line) for line in out.splitlines() if '"UndeclaredAwsCalls"' in line]
    assert len(metrics) == 2 and all(m["UndeclaredAwsCalls"] == 1 for m in metrics)


@pytest.mark.usefixtures("bucket_with_an_object")
def test_off_checks_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSFN_ACCESS_CHECK", "off")
    assert Client(_app([])).handle(invoke_event("list_and_read"))["body"] == "hello"


@pytest.mark.usefixtures("bucket_with_an_object")
def test_a_mistyped_mode_is_an_invalid_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from opsfn.errors import InvalidSetting

    monkeypatch.setenv("OPSFN_ACCESS_CHECK", "warn")
    with pytest.raises(InvalidSetting):
        Client(_app([])).handle(invoke_event("list_and_read"))


@pytest.mark.usefixtures("bucket_with_an_object")
def test_calls_outside_a_route_are_not_held_to_any() -> None:
    assert current_route() is None
    assert aws.client("s3").get_object(Bucket=BUCKET, Key="a.txt")["Body"].read() == b"hello"


def test_the_sdk_free_paths_are_checked_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """The lean DynamoDB call checks before it decides between itself and the SDK."""
    from opsfn.services import lean

    router = Router()

    @router.action("lean_read")
    def lean_read() -> dict[str, Any]:
        return lean.get_item(TableName="t", Key={"id": {"S": "x"}})

    with pytest.raises(UndeclaredAccess, match="dynamodb:GetItem"):
        Client(App([router])).handle(invoke_event("lean_read"))


# -- declarations resolved where the values are known (the construct now, the function later) ---
def _resolver(values: dict[str, str]) -> Any:
    from opsfn.core.access_policy import Resolver
    from opsfn.core.settings import setting_default

    return Resolver(values.get, {"partition": "aws", "region": "eu-west-1", "account": "1"},
                    defaults=setting_default)


def test_resolved_statements_name_the_configured_resources() -> None:
    from opsfn.core.access_policy import statements

    grants = [
        allow("s3:GetObject", on=objects("SYNC_BUCKET", "{SYNC_PREFIX}")),
        allow("sqs:SendMessage", on=queue("OPSFN_ACTION_QUEUE")),
        allow("ssm:GetParameter", on=parameter("INCIDENT_TARGETS_PARAMETER")),
        allow("secretsmanager:GetSecretValue", on=secret("SES_SMTP_SECRET_ID"), name="Smtp"),
    ]
    found = statements(grants, _resolver({
        "SYNC_BUCKET": "archive", "OPSFN_ACTION_QUEUE": "https://sqs.eu-west-1/1/actions",
        "INCIDENT_TARGETS_PARAMETER": "/ops/targets", "SES_SMTP_SECRET_ID": "opsfn/smtp"}))
    assert [s["Resource"] for s in found] == [
        "arn:aws:s3:::archive/efs/*",  # SYNC_PREFIX's default
        "arn:aws:sqs:eu-west-1:1:actions",
        "arn:aws:ssm:eu-west-1:1:parameter/ops/targets",
        "arn:aws:secretsmanager:eu-west-1:1:secret:opsfn/smtp-??????"]
    assert found[3]["Sid"] == "Smtp" and found[0]["Action"] == "s3:GetObject"


def test_what_is_not_configured_is_not_granted() -> None:
    from opsfn.core.access_policy import statements

    grants = [
        allow("rds:DescribeDBInstances", on=arn_pattern(
            "arn:{partition}:rds:{region}:{account}:db:{DB_INSTANCE_ID}")),
        allow("cloudwatch:GetMetricStatistics", on=ANY, why="no resource-level permission",
              if_set=("DB_INSTANCE_ID", "DB_CLUSTER_ID")),
    ]
    assert statements(grants, _resolver({})) == []
    found = statements(grants, _resolver({"DB_CLUSTER_ID": "c"}))
    assert [s["Action"] for s in found] == ["cloudwatch:GetMetricStatistics"]


def test_domains_conditions_and_lists_of_arns() -> None:
    from opsfn.core.access_policy import statements

    grants = [
        allow("ses:SendRawEmail", on=[
            arn_pattern("arn:{partition}:ses:{region}:{account}:identity/{SES_FORWARD_FROM}"),
            arn_pattern("arn:{partition}:ses:{region}:{account}:identity/{SES_FORWARD_FROM|domain}")],
            when={"StringEquals": {"ses:FromAddress": "{SES_FORWARD_FROM}"}}),
        allow("kms:Decrypt", on=access.arn("SES_SMTP_SECRETS_KMS_KEY_ARN"), name="Keys"),
        allow("kms:Decrypt", on=access.arn("RDS_EXPORT_KMS_KEY_ID"), name="Keys"),
    ]
    found = statements(grants, _resolver({
        "SES_FORWARD_FROM": "relay@mail.example.org",
        "SES_SMTP_SECRETS_KMS_KEY_ARN": "arn:aws:kms:eu-west-1:1:key/a, arn:aws:kms:eu-west-1:1:key/b",
        "RDS_EXPORT_KMS_KEY_ID": "arn:aws:kms:eu-west-1:1:key/c"}))
    assert found[0]["Resource"] == ["arn:aws:ses:eu-west-1:1:identity/relay@mail.example.org",
                                    "arn:aws:ses:eu-west-1:1:identity/mail.example.org"]
    assert found[0]["Condition"] == {"StringEquals": {"ses:FromAddress": "relay@mail.example.org"}}
    assert found[1] == {"Sid": "Keys", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": [
        "arn:aws:kms:eu-west-1:1:key/a", "arn:aws:kms:eu-west-1:1:key/b",
        "arn:aws:kms:eu-west-1:1:key/c"]}
