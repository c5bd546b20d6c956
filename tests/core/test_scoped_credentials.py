"""Scoped credentials: each route's AWS calls carry a session of the routes role narrowed to the
route's own declarations, against moto (in process, and its server for the SDK-free paths)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from opsfn.core import session_policy
from opsfn.core.access_policy import Resolver
from opsfn.handler import app
from opsfn.services import aws, lean, scoped
from opsfn.testing import Client
from tests.conftest import REGION

ACCOUNT = "123456789012"
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
    "Action": "sts:AssumeRole"}]})


def _route(label: str) -> Any:
    return next(r for r in app.registry.routes if r.label == label)


def _assumed() -> list[Any]:
    """The sessions moto's STS handed out, oldest first."""
    from moto.sts.models import sts_backends

    return list(sts_backends[ACCOUNT]["global"].assumed_roles)


class _Signed:
    """The access key that signed each request sent (operation, key), from every client."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def __call__(self, request: Any, event_name: str, **_: Any) -> None:
        header = request.headers.get("Authorization") or b""
        text = header.decode() if isinstance(header, bytes) else header
        key = text.split("Credential=", 1)[1].split("/", 1)[0] if "Credential=" in text else ""
        self.calls.append((event_name.removeprefix("before-send."), key))  # "sts.AssumeRole"


@pytest.fixture
def signed() -> Iterator[_Signed]:
    recorder = _Signed()
    aws.register_hook("before-send", recorder, "test-signed-by")
    yield recorder
    aws.unregister_hook("test-signed-by")


@pytest.fixture
def imaging(routes_role: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The upload routes' table and bucket, and a routes role; returns the role's ARN."""
    monkeypatch.setenv("TABLE_NAME", "jobs")
    monkeypatch.setenv("UPLOAD_BUCKET", "uploads-bucket")
    aws.client("dynamodb").create_table(
        TableName="jobs", BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "jobId", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "jobId", "KeyType": "HASH"}])
    aws.client("s3").create_bucket(Bucket="uploads-bucket")
    return routes_role


def _upload(client: Client) -> dict[str, Any]:
    reply = client.post("/request-upload", json_body={"fileName": "a.png", "fileType": "image/png"})
    assert reply.status == 200, reply.body
    return dict(reply.json())


def test_the_session_policy_sent_is_the_routes_declarations(imaging: str) -> None:
    _upload(Client(app))
    [session] = _assumed()
    assert session.role_arn == imaging
    assert session.session_name == "opsfn-POST-request-upload"
    assert json.loads(session.policy) == {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:PutObject",
         "Resource": "arn:aws:s3:::uploads-bucket/uploads/*"},
        {"Effect": "Allow", "Action": "dynamodb:PutItem",
         "Resource": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/jobs"},
    ]}


def test_the_routes_calls_are_signed_with_the_scoped_session(imaging: str,
                                                             signed: _Signed) -> None:
    client = Client(app)
    upload = _upload(client)
    [session] = _assumed()
    assert session.access_key_id != "testing"
    by_key = {key for call, key in signed.calls if "AssumeRole" not in call}
    assert [key for call, key in signed.calls if call == "dynamodb.PutItem"] == \
        [session.access_key_id]
    assert by_key == {session.access_key_id}
    # The presigned upload is signed with the session that may only put under uploads/.
    query = dict(parse_qsl(urlsplit(upload["uploadUrl"]).query))
    assert query["X-Amz-Credential"].startswith(session.access_key_id + "/")
    assert query["X-Amz-Security-Token"] == session.session_token
    assert upload["uploadPost"]["fields"]["AWSAccessKeyId" if "AWSAccessKeyId" in
                                           upload["uploadPost"]["fields"] else
                                           "x-amz-credential"].startswith(session.access_key_id)


def test_a_session_is_kept_per_route_until_shortly_before_it_expires(
        imaging: str, monkeypatch: pytest.MonkeyPatch) -> None:
    client = Client(app)
    _upload(client)
    _upload(client)
    job = _upload(client)["jobId"]
    assert client.get("/get-results", query={"jobId": job}).status == 200
    assert [s.session_name for s in _assumed()] == ["opsfn-POST-request-upload",
                                                    "opsfn-GET-get-results"]
    first = _assumed()[0]
    _expire_in(scoped.RENEW_MARGIN_S + 5, "POST /request-upload")
    _upload(client)
    assert len(_assumed()) == 2
    _expire_in(scoped.RENEW_MARGIN_S - 5, "POST /request-upload")
    _upload(client)
    assert len(_assumed()) == 3 and _assumed()[2].session_name == first.session_name


def _expire_in(seconds: float, label: str) -> None:
    """Make the route's cached session end ``seconds`` from now (moto's clock is the real one)."""
    [key] = [k for k in scoped._sessions if k[1][0] == label]
    held = scoped._sessions[key]
    scoped._sessions[key] = scoped.Session(held.credentials, time.time() + seconds)


def test_a_presigned_url_gets_a_session_that_outlives_it(
        imaging: str, monkeypatch: pytest.MonkeyPatch) -> None:
    client = Client(app)
    _upload(client)
    # Twenty minutes left: enough for any client, not for a 30-minute upload URL.
    _expire_in(1200, "POST /request-upload")
    _upload(client)
    assert len(_assumed()) == 1
    monkeypatch.setenv("IMAGING_UPLOAD_URL_EXPIRY_S", "1800")
    _upload(client)
    assert len(_assumed()) == 2


def test_off_shares_one_unnarrowed_session(imaging: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSFN_SCOPED_CREDENTIALS", "off")
    client = Client(app)
    job = _upload(client)["jobId"]
    assert client.get("/get-results", query={"jobId": job}).status == 200
    [session] = _assumed()
    assert session.policy is None
    assert session.session_name == "opsfn-routes"


def test_without_a_routes_role_routes_use_the_functions_credentials(
        imaging: str, monkeypatch: pytest.MonkeyPatch, signed: _Signed) -> None:
    monkeypatch.delenv("OPSFN_ROUTES_ROLE_ARN")
    _upload(Client(app))
    assert _assumed() == []
    assert {key for _, key in signed.calls} <= {"testing", "FOOBARKEY"}


def test_the_framework_and_sts_itself_run_on_the_functions_credentials(
        imaging: str, signed: _Signed) -> None:
    _upload(Client(app))
    sts = [key for call, key in signed.calls if call == "sts.AssumeRole"]
    assert sts and set(sts) <= {"testing", "FOOBARKEY"}
    assert scoped.current() is None  # no route runs now


@pytest.mark.parametrize("route", app.registry.routes, ids=lambda r: r.label)
def test_every_routes_session_policy_is_exactly_its_declarations(route: Any) -> None:
    """Every declared action on every declared resource, nothing else (settings all set)."""
    resolver = Resolver(lambda name: f"v-{name.lower()}", {
        "partition": "aws", "region": REGION, "account": ACCOUNT})
    document = session_policy.document(route.access, resolver)
    granted = {(action, resource) for statement in document["Statement"]
               if statement["Effect"] == "Allow"
               for action in _listed(statement["Action"])
               for resource in _listed(statement["Resource"])}
    declared = {(action, resource) for grant in route.access for action in grant.actions
                for item in grant.resources for resource in resolver.arns_of(item)}
    assert granted == declared
    if not route.access:
        assert document["Statement"] == [{"Effect": "Deny", "Action": "*", "Resource": "*"}]
    assert all("Sid" not in s for s in document["Statement"])


def _listed(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


def test_a_route_too_large_for_an_inline_policy_uses_its_domains_managed_policy(
        imaging: str, monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[dict[str, Any]] = []
    aws.register_hook("provide-client-params.sts.AssumeRole",
                      lambda params, **_: sent.append(dict(params)), "test-assume-params")
    try:
        monkeypatch.setattr(session_policy, "MAX_INLINE", 100)
        managed = f"arn:aws:iam::{ACCOUNT}:policy/imaging-session"
        monkeypatch.setenv("OPSFN_SESSION_POLICIES", f"exports=arn:aws:iam::{ACCOUNT}:policy/x,"
                                                     f"imaging={managed}")
        _upload(Client(app))
        assert sent[-1]["PolicyArns"] == [{"arn": managed}]
        assert "Policy" not in sent[-1]
        scoped.reset()  # a name (as the template gives it) is a policy of the role's account
        monkeypatch.setenv("OPSFN_SESSION_POLICIES", "imaging=stack-ImagingSessionPolicy-1A2B")
        _upload(Client(app))
        assert sent[-1]["PolicyArns"] == [
            {"arn": f"arn:aws:iam::{ACCOUNT}:policy/stack-ImagingSessionPolicy-1A2B"}]
        scoped.reset()
        monkeypatch.setenv("OPSFN_SESSION_POLICIES", "exports=arn:aws:iam::1:policy/x")
        reply = Client(app).post("/request-upload",
                                 json_body={"fileName": "a.png", "fileType": "image/png"})
        assert reply.status == 500, reply.body
        assert b"missing_setting" in reply.body and b"OPSFN_SESSION_POLICIES" in reply.body
    finally:
        aws.unregister_hook("test-assume-params")


def test_session_names_say_which_route_holds_them() -> None:
    assert session_policy.session_name("POST /request-upload") == "opsfn-POST-request-upload"
    assert session_policy.session_name("s3:${UPLOAD_BUCKET}/uploads/*") == \
        "opsfn-s3-UPLOAD_BUCKET-uploads"
    assert len(session_policy.session_name("action:" + "x" * 200)) == 64


def test_the_built_in_routes_that_get_managed_policies() -> None:
    """The estimate errs long: a route is given a managed policy before it could fail inline."""
    big = sorted({r.label for r in app.registry.routes
                  if session_policy.needs_managed_policy(r.access)})
    assert "POST /request-upload" not in big
    assert "schedule:sync-efs-to-s3" in big
    for route in app.registry.routes:
        if route.label not in big:
            assert session_policy.estimated_size(route.access, coarse=True) <= \
                session_policy.MAX_INLINE


def test_a_policy_too_long_exactly_is_sent_coarse_first(
        imaging: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Per service, the route's actions on the route's resources: shorter, never wider than
    what the route named."""
    resolver = Resolver(lambda name: f"v-{name.lower()}", {
        "partition": "aws", "region": REGION, "account": ACCOUNT})
    route = _route("POST /request-upload")
    exact = session_policy.text(route.access, resolver)
    coarse = session_policy.text(route.access, resolver, coarse=True)
    monkeypatch.setattr(session_policy, "MAX_INLINE", len(exact) - 1)
    sent: list[dict[str, Any]] = []
    aws.register_hook("provide-client-params.sts.AssumeRole",
                      lambda params, **_: sent.append(dict(params)), "test-assume-coarse")
    try:
        _upload(Client(app))
    finally:
        aws.unregister_hook("test-assume-coarse")
    assert len(coarse) <= len(exact)
    statements = json.loads(sent[-1]["Policy"])["Statement"]
    named = {r for s in statements for r in _listed(s["Resource"])}
    assert named == {"arn:aws:s3:::uploads-bucket/uploads/*",
                     f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/jobs"}


def test_coarse_joins_a_services_statements_and_keeps_conditions_apart() -> None:
    from opsfn.access import allow, arn, objects, table

    resolver = Resolver(lambda name: name.lower(), {
        "partition": "aws", "region": REGION, "account": ACCOUNT})
    grants = (allow("s3:GetObject", on=objects("A", "x/")), allow("s3:PutObject", on=objects("B")),
              allow("iam:PassRole", on=arn("R"), when={"StringEquals": {
                  "iam:PassedToService": "datasync.amazonaws.com"}}),
              allow("dynamodb:GetItem", on=table("T")))
    document = session_policy.document(grants, resolver, coarse=True)
    assert document["Statement"] == [
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
         "Resource": ["arn:aws:s3:::a/x/*", "arn:aws:s3:::b/*"]},
        {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "r",
         "Condition": {"StringEquals": {"iam:PassedToService": "datasync.amazonaws.com"}}},
        {"Effect": "Allow", "Action": "dynamodb:GetItem",
         "Resource": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/t"}]


# -- without the SDK ------------------------------------------------------------------------------
@pytest.fixture
def on_moto_server(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    monkeypatch.setenv("TABLE_NAME", "scoped-jobs")
    monkeypatch.setenv("UPLOAD_BUCKET", "scoped-uploads")
    aws.reset()
    dynamodb = aws.client("dynamodb")
    dynamodb.create_table(TableName="scoped-jobs", BillingMode="PAY_PER_REQUEST",
                          AttributeDefinitions=[{"AttributeName": "jobId", "AttributeType": "S"}],
                          KeySchema=[{"AttributeName": "jobId", "KeyType": "HASH"}])
    role = aws.client("iam").create_role(RoleName="scoped-routes",
                                         AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    monkeypatch.setenv("OPSFN_ROUTES_ROLE_ARN", role)
    yield moto_server
    dynamodb.delete_table(TableName="scoped-jobs")
    aws.client("iam").delete_role(RoleName="scoped-routes")


def test_assume_role_without_the_sdk_is_what_sts_answers(on_moto_server: str) -> None:
    where = lean.Target(lean.Credentials("testing", "testing", "testing"), REGION, on_moto_server)
    answer = lean.assume_role({"RoleArn": f"arn:aws:iam::{ACCOUNT}:role/scoped-routes",
                               "RoleSessionName": "opsfn-test", "DurationSeconds": "900",
                               "Policy": '{"Version":"2012-10-17","Statement":[]}'}, where)
    assert not isinstance(answer, lean.UseSdk)
    assert answer["AccessKeyId"].startswith("ASIA") and answer["SessionToken"]
    left = time.mktime(time.strptime(answer["Expiration"][:19], "%Y-%m-%dT%H:%M:%S")) - \
        time.mktime(time.gmtime())
    assert 800 < left <= 900
    refused = lean.assume_role({"RoleSessionName": "no-role"}, where)
    assert refused is lean.USE_SDK  # the SDK repeats it and raises STS's error


def test_a_cold_upload_is_scoped_without_loading_the_sdk(
        on_moto_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lean.where, "sdk_loaded", lambda: False)
    made: list[str] = []
    original = aws.client
    monkeypatch.setattr(aws, "client", lambda service, *a: made.append(service) or original(
        service, *a))
    upload = _upload(Client(app))
    assert made == []  # STS, DynamoDB and the signed forms: all without the SDK
    query = dict(parse_qsl(urlsplit(upload["uploadUrl"]).query))
    key = query["X-Amz-Credential"].split("/", 1)[0]
    assert key.startswith("ASIA") and key != "testing"
    assert scoped.assumed_count() >= 1


# -- under moto's IAM enforcement -----------------------------------------------------------------
def _allow(action: str | list[str], resource: str | list[str]) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource}


def _document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def test_under_moto_iam_enforcement(moto_aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """The function's identity may only assume the routes role; the routes role holds the
    imaging grants. With moto enforcing IAM (as ``INITIAL_NO_AUTH_ACTION_COUNT`` does), the
    upload route works through its scoped session and a call beyond the role is refused.

    moto does not evaluate session policies (its ``AssumedRoleAccessKey.collect_policies`` reads
    the role's policies only), so a call the role allows but the route did not declare goes
    through there; on AWS it is refused. The last assertion pins that, so a moto that starts
    evaluating them fails here and the assertion can become a refusal.
    """
    from botocore.exceptions import ClientError
    from moto.core import set_initial_no_auth_action_count

    iam = aws.client("iam")
    iam.create_user(UserName="opsfn-function")
    routes = iam.create_role(RoleName="enforced-routes", AssumeRolePolicyDocument=_document({
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/opsfn-function"},
        "Action": "sts:AssumeRole"}))["Role"]["Arn"]
    iam.put_user_policy(UserName="opsfn-function", PolicyName="assume-routes",
                        PolicyDocument=_document(_allow("sts:AssumeRole", routes)))
    iam.put_role_policy(RoleName="enforced-routes", PolicyName="imaging", PolicyDocument=_document(
        _allow(["s3:PutObject", "s3:GetObject"], "arn:aws:s3:::enforced-uploads/uploads/*"),
        # moto authorizes DynamoDB calls against resource "*" only (S3 against the object).
        _allow(["dynamodb:PutItem", "dynamodb:GetItem"], "*")))
    key = iam.create_access_key(UserName="opsfn-function")["AccessKey"]
    aws.client("dynamodb").create_table(
        TableName="enforced-jobs", BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "jobId", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "jobId", "KeyType": "HASH"}])
    aws.client("s3").create_bucket(Bucket="enforced-uploads")
    aws.client("s3").put_object(Bucket="enforced-uploads", Key="uploads/someone-else", Body=b"x")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    monkeypatch.delenv("AWS_SESSION_TOKEN")
    monkeypatch.setenv("TABLE_NAME", "enforced-jobs")
    monkeypatch.setenv("UPLOAD_BUCKET", "enforced-uploads")
    monkeypatch.setenv("OPSFN_ROUTES_ROLE_ARN", routes)
    aws.reset()

    def enforced() -> None:
        with pytest.raises(ClientError) as refused:  # the function's own identity: no S3 at all
            aws.client("s3").get_object(Bucket="enforced-uploads", Key="uploads/someone-else")
        assert refused.value.response["Error"]["Code"] == "AccessDenied"
        _upload(Client(app))  # STS with the function's identity, PutItem with the session
        session = scoped.session_for(_route("POST /request-upload"), routes, narrowed=True)
        keys = session.credentials
        as_route = {"aws_access_key_id": keys.access_key, "aws_secret_access_key": keys.secret_key,
                    "aws_session_token": keys.token, "region_name": REGION}
        import boto3

        with pytest.raises(ClientError) as beyond:
            boto3.client("dynamodb", **as_route).delete_table(TableName="enforced-jobs")
        assert "not authorized" in str(beyond.value)
        undeclared = boto3.client("s3", **as_route).get_object(  # see the docstring
            Bucket="enforced-uploads", Key="uploads/someone-else")
        assert undeclared["Body"].read() == b"x"

    set_initial_no_auth_action_count(0)(enforced)()


def test_with_a_customer_key_every_session_may_use_it(imaging: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """S3 and DynamoDB use the deployment's key with the caller's permissions: a session that
    may read an encrypted object must also decrypt with the key."""
    key = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
    monkeypatch.setenv("OPSFN_KMS_KEY_ARN", key)
    _upload(Client(app))
    [session] = _assumed()
    assert {"Effect": "Allow", "Resource": key, "Action": [
        "kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"]} in \
        json.loads(session.policy)["Statement"]


def test_the_routes_role_may_use_the_customer_key(template: dict[str, Any]) -> None:
    roles = template["Resources"]["KmsKeyUse"]["Properties"]["Roles"]
    for listed in roles["Fn::If"][1:]:
        assert {"Ref": "RoutesRole"} in listed


def test_a_url_as_long_as_a_session_gets_a_fresh_session_not_one_per_call(
        imaging: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A session lasts an hour at most: an hour-long upload URL is signed with a fresh one, and
    the next request within the minute reuses it."""
    monkeypatch.setenv("IMAGING_UPLOAD_URL_EXPIRY_S", "3600")
    client = Client(app)
    _upload(client)
    _upload(client)
    assert len(_assumed()) == 1
