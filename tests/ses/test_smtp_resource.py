"""Custom::SmtpCredential and rotate_smtp_credential end to end against moto."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from opsfn.errors import NotFound, ValidationFailed
from opsfn.routes.ses.smtp.iam import POLICY_NAME
from opsfn.routes.ses.smtp.ownership import TAG_MANAGED, TAG_RESOURCE
from opsfn.routes.ses.smtp_password import smtp_password
from opsfn.services import aws
from opsfn.testing import Client
from tests.ses.conftest import issued_keys

CR = "Custom::SmtpCredential"
IDENTITY = "arn:aws:ses:us-east-1:123456789012:identity/example.com"
ID = {"IdentityArn": IDENTITY}  # the user variant sends as this identity only


@pytest.fixture(autouse=True)
def _rotation_timing(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests predate the grace period: the old key goes at once, the new key is promoted
    without waiting (tests/ses/test_smtp_rotation.py covers both)."""
    monkeypatch.setenv("SES_SMTP_ROTATION_GRACE_SECONDS", "0")
    monkeypatch.setenv("SES_SMTP_KEY_PROPAGATION_SECONDS", "0")


@pytest.fixture
def issued(moto_aws: None) -> Iterator[dict[str, str]]:
    """Every access key IAM hands out during the test: id -> secret (read from the replies)."""
    yield issued_keys()


def _keys(user: str) -> list[str]:
    reply = aws.client("iam").list_access_keys(UserName=user)
    return [k["AccessKeyId"] for k in reply["AccessKeyMetadata"]]


def _secret(secret_id: str) -> dict[str, Any]:
    text = aws.client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"]
    return json.loads(text)  # type: ignore[no-any-return]


def _versions(secret_id: str) -> int:
    return len(aws.client("secretsmanager").list_secret_version_ids(SecretId=secret_id)["Versions"])


def _user_exists(user: str) -> bool:
    iam = aws.client("iam")
    try:
        iam.get_user(UserName=user)
    except iam.exceptions.NoSuchEntityException:
        return False
    return True


def test_create_makes_user_policy_key_and_secret(client: Client, issued: dict[str, str],
                                                caplog: pytest.LogCaptureFixture,
                                                secret: Callable[[str], str]) -> None:
    caplog.set_level("DEBUG", logger="opsfn")
    reply = client.custom_resource("Create", CR, {**ID, "UserName": "smtp-mailer"})
    logs = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records
                     if r.name.startswith("opsfn"))
    assert reply["Status"] == "SUCCESS", reply["Reason"]
    data = reply["Data"]
    assert data["Host"] == "email-smtp.us-east-1.amazonaws.com" and data["Port"] == "587"
    assert data["UserName"] == "smtp-mailer"
    assert set(data) == {"SecretArn", "Host", "Port", "UserName"}

    iam = aws.client("iam")
    tags = {t["Key"]: t["Value"] for t in iam.list_user_tags(UserName="smtp-mailer")["Tags"]}
    assert tags[TAG_MANAGED] == "opsfn" and tags[TAG_RESOURCE] == reply["PhysicalResourceId"]
    policy = iam.get_user_policy(UserName="smtp-mailer", PolicyName=POLICY_NAME)["PolicyDocument"]
    policy = json.loads(policy) if isinstance(policy, str) else policy
    assert policy["Statement"] == [{"Effect": "Allow", "Action": "ses:SendRawEmail",
                                    "Resource": IDENTITY}]  # one identity, never "*"
    keys = _keys("smtp-mailer")
    assert len(keys) == 1 and list(issued) == keys

    stored = _secret(data["SecretArn"])
    assert stored == {"username": keys[0], "password": smtp_password(issued[keys[0]], "us-east-1"),
                      "host": "email-smtp.us-east-1.amazonaws.com", "port": 587}
    secret(stored["password"])  # the suite-wide leak check looks for the SMTP password too
    secret(issued[keys[0]])
    body = json.dumps(reply)
    assert stored["password"] not in body and issued[keys[0]] not in body
    assert "smtp credential ready" in logs  # the log is captured here...
    for text in (stored["password"], issued[keys[0]], keys[0]):  # ...and holds no credential
        assert text not in logs


def test_retried_create_reuses_the_key_and_the_secret(client: Client,
                                                      issued: dict[str, str]) -> None:
    first = client.custom_resource("Create", CR, {**ID, "UserName": "mailer"})
    second = client.custom_resource("Create", CR, {**ID, "UserName": "mailer"})
    assert second["Status"] == "SUCCESS"
    assert second["PhysicalResourceId"] == first["PhysicalResourceId"]
    assert second["Data"] == first["Data"]
    assert len(issued) == 1 and len(_keys("mailer")) == 1
    assert _versions(first["Data"]["SecretArn"]) == 1  # the same token: no second version
    listed = aws.client("secretsmanager").list_secrets()["SecretList"]
    assert len(listed) == 1


def test_key_orphaned_by_a_crashed_attempt_is_replaced(client: Client,
                                                       issued: dict[str, str]) -> None:
    first = client.custom_resource("Create", CR, {**ID, "UserName": "mailer"})
    aws.client("iam").create_access_key(UserName="mailer")  # died before writing the secret
    aws.client("secretsmanager").put_secret_value(
        SecretId=first["Data"]["SecretArn"],
        SecretString=json.dumps({"username": "", "password": "", "host": "", "port": 587}))
    retry = client.custom_resource("Create", CR, {**ID, "UserName": "mailer"})
    assert retry["Status"] == "SUCCESS"
    keys = _keys("mailer")
    assert len(keys) == 1  # both unrecorded keys deleted before the new one was made
    secret = _secret(retry["Data"]["SecretArn"])
    assert secret["username"] == keys[0]
    assert secret["password"] == smtp_password(issued[keys[0]], "us-east-1")


def test_foreign_user_fails_and_delete_leaves_it(client: Client, moto_aws: None) -> None:
    aws.client("iam").create_user(UserName="human")
    aws.client("iam").create_access_key(UserName="human")
    failed = client.custom_resource("Create", CR, {**ID, "UserName": "human"})
    assert failed["Status"] == "FAILED"
    assert failed["Reason"] == "IAM user human exists and is not managed by opsfn"
    deleted = client.custom_resource("Delete", CR, {**ID, "UserName": "human"},
                                     physical_id=failed["PhysicalResourceId"])
    assert deleted["Status"] == "SUCCESS"
    assert _user_exists("human") and len(_keys("human")) == 1
    assert aws.client("secretsmanager").list_secrets()["SecretList"] == []


def test_foreign_secret_fails(client: Client, moto_aws: None) -> None:
    aws.client("secretsmanager").create_secret(Name="opsfn/ses-smtp/mailer", SecretString="{}")
    failed = client.custom_resource("Create", CR, {**ID, "UserName": "mailer"})
    assert failed["Status"] == "FAILED" and "not managed by opsfn" in failed["Reason"]
    assert not _user_exists("mailer")  # the conflict is found before anything is created
    cleanup = client.custom_resource("Delete", CR, {**ID, "UserName": "mailer"},
                                     physical_id=failed["PhysicalResourceId"])
    assert cleanup["Status"] == "SUCCESS"
    assert _secret("opsfn/ses-smtp/mailer") == {}  # the foreign secret stays


def test_failed_create_is_cleaned_up_by_the_following_delete(client: Client,
                                                             moto_aws: None) -> None:
    def deny(**_: Any) -> Any:
        from botocore.awsrequest import AWSResponse

        error = {"Error": {"Code": "AccessDeniedException", "Message": "no"},
                 "ResponseMetadata": {"HTTPStatusCode": 400}}
        return AWSResponse("https://secretsmanager.us-east-1.amazonaws.com", 400, {}, None), error

    sm = aws.client("secretsmanager")
    sm.meta.events.register("before-call.secrets-manager.CreateSecret", deny)
    failed = client.custom_resource("Create", CR, {**ID, "UserName": "mailer"})
    assert failed["Reason"] == "AWS CreateSecret failed: AccessDeniedException"
    assert _user_exists("mailer") and len(_keys("mailer")) == 1  # made before the failure
    sm.meta.events.unregister("before-call.secrets-manager.CreateSecret", deny)
    cleanup = client.custom_resource("Delete", CR, {**ID, "UserName": "mailer"},
                                     physical_id=failed["PhysicalResourceId"])
    assert cleanup["Status"] == "SUCCESS" and not _user_exists("mailer")


def test_delete_removes_what_opsfn_created(client: Client, moto_aws: None) -> None:
    created = client.custom_resource("Create", CR, {**ID, "UserName": "mailer", "SecretName": "app/smtp"})
    physical = created["PhysicalResourceId"]
    deleted = client.custom_resource("Delete", CR, {**ID, "UserName": "mailer", "SecretName": "app/smtp"},
                                     physical_id=physical)
    assert deleted["Status"] == "SUCCESS" and deleted["PhysicalResourceId"] == physical
    assert not _user_exists("mailer")
    described = aws.client("secretsmanager").describe_secret(SecretId="app/smtp")
    assert described.get("DeletedDate") is not None  # scheduled, within the recovery window
    again = client.custom_resource("Delete", CR, {**ID, "UserName": "mailer", "SecretName": "app/smtp"},
                                   physical_id=physical)
    assert again["Status"] == "SUCCESS"


def test_update_to_another_user_replaces(client: Client, issued: dict[str, str]) -> None:
    old_props = {**ID, "UserName": "mailer-a", "SecretName": "app/smtp"}
    created = client.custom_resource("Create", CR, old_props)
    new_props = {**ID, "UserName": "mailer-b", "SecretName": "app/smtp"}
    updated = client.custom_resource("Update", CR, new_props, old_properties=old_props,
                                     physical_id=created["PhysicalResourceId"])
    assert updated["Status"] == "SUCCESS", updated["Reason"]
    assert updated["PhysicalResourceId"] != created["PhysicalResourceId"]
    key_b = _keys("mailer-b")
    assert len(key_b) == 1 and _secret("app/smtp")["username"] == key_b[0]
    # CloudFormation then deletes the old physical id with the old properties.
    old_delete = client.custom_resource("Delete", CR, old_props,
                                        physical_id=created["PhysicalResourceId"])
    assert old_delete["Status"] == "SUCCESS"
    assert not _user_exists("mailer-a") and _user_exists("mailer-b")
    assert "DeletedDate" not in aws.client("secretsmanager").describe_secret(SecretId="app/smtp")
    assert _secret("app/smtp")["password"] == smtp_password(issued[key_b[0]], "us-east-1")


def test_update_of_region_issues_a_new_key(client: Client, issued: dict[str, str]) -> None:
    props = {**ID, "UserName": "mailer"}
    created = client.custom_resource("Create", CR, props)
    old_key = _keys("mailer")
    updated = client.custom_resource("Update", CR, {**props, "Region": "eu-west-1"},
                                     old_properties=props,
                                     physical_id=created["PhysicalResourceId"])
    assert updated["Status"] == "SUCCESS", updated["Reason"]
    assert updated["Data"]["Host"] == "email-smtp.eu-west-1.amazonaws.com"
    new_key = _keys("mailer")
    assert len(new_key) == 1 and new_key != old_key
    secret = _secret(updated["Data"]["SecretArn"])
    assert secret["password"] == smtp_password(issued[new_key[0]], "eu-west-1")
    assert secret["host"] == "email-smtp.eu-west-1.amazonaws.com"
    old_delete = client.custom_resource("Delete", CR, props,
                                        physical_id=created["PhysicalResourceId"])
    assert old_delete["Status"] == "SUCCESS"
    assert _user_exists("mailer") and _keys("mailer") == new_key  # adopted by the new id


def test_update_of_port_keeps_the_key(client: Client, issued: dict[str, str]) -> None:
    props = {**ID, "UserName": "mailer"}
    created = client.custom_resource("Create", CR, props)
    updated = client.custom_resource("Update", CR, {**props, "Port": "2587"}, old_properties=props,
                                     physical_id=created["PhysicalResourceId"])
    assert updated["PhysicalResourceId"] == created["PhysicalResourceId"]
    assert updated["Data"]["Port"] == "2587" and len(issued) == 1
    assert _secret(updated["Data"]["SecretArn"])["port"] == 2587


def test_bad_properties_fail_clearly(client: Client, moto_aws: None) -> None:
    region = client.custom_resource("Create", CR, {**ID, "UserName": "mailer", "Region": "af-south-1"})
    assert region["Status"] == "FAILED" and "no SES SMTP endpoint" in region["Reason"]
    assert "properties.Region" in region["Reason"]
    neither = client.custom_resource("Create", CR, {"SecretName": "x"})
    assert neither["Status"] == "FAILED" and "UserName" in neither["Reason"]
    assert not _user_exists("mailer")


def test_derive_from_an_existing_secret(client: Client, moto_aws: None) -> None:
    sm = aws.client("secretsmanager")
    sm.create_secret(Name="stack/iam-key", SecretString=json.dumps(
        {"AccessKeyId": "AKIAEXAMPLE123456789", "SecretAccessKey": "s3cr3t/KEY+value"}))
    props = {"SourceSecretId": "stack/iam-key", "SecretName": "stack/smtp"}
    created = client.custom_resource("Create", CR, props)
    assert created["Status"] == "SUCCESS", created["Reason"]
    assert set(created["Data"]) == {"SecretArn", "Host", "Port"}
    assert _secret("stack/smtp") == {
        "username": "AKIAEXAMPLE123456789", "password": smtp_password("s3cr3t/KEY+value", "us-east-1"),
        "host": "email-smtp.us-east-1.amazonaws.com", "port": 587}
    assert "s3cr3t" not in json.dumps(created)
    again = client.custom_resource("Create", CR, props)
    assert again["Data"] == created["Data"] and _versions("stack/smtp") == 1
    deleted = client.custom_resource("Delete", CR, props, physical_id=created["PhysicalResourceId"])
    assert deleted["Status"] == "SUCCESS"
    assert sm.describe_secret(SecretId="stack/smtp").get("DeletedDate") is not None
    assert sm.describe_secret(SecretId="stack/iam-key").get("DeletedDate") is None


def test_derive_into_a_secret_the_stack_owns(client: Client, moto_aws: None) -> None:
    sm = aws.client("secretsmanager")
    sm.create_secret(Name="stack/iam-key", SecretString="plain-secret-key")
    sm.create_secret(Name="stack/smtp", SecretString="placeholder")
    props = {"SourceSecretId": "stack/iam-key", "SecretName": "stack/smtp",
             "AccessKeyId": "AKIAEXAMPLE123456789", "Region": "eu-west-2"}
    created = client.custom_resource("Create", CR, props)
    assert created["Status"] == "SUCCESS", created["Reason"]
    assert _secret("stack/smtp")["password"] == smtp_password("plain-secret-key", "eu-west-2")
    client.custom_resource("Delete", CR, props, physical_id=created["PhysicalResourceId"])
    assert sm.describe_secret(SecretId="stack/smtp").get("DeletedDate") is None  # not ours


def test_derive_failures(client: Client, moto_aws: None) -> None:
    missing = client.custom_resource("Create", CR, {"SourceSecretId": "nope", "SecretName": "t"})
    assert missing["Status"] == "FAILED" and missing["Reason"] == "the source secret does not exist"
    aws.client("secretsmanager").create_secret(Name="src", SecretString=json.dumps({"a": "b"}))
    empty = client.custom_resource("Create", CR, {"SourceSecretId": "src", "SecretName": "t"})
    assert empty["Status"] == "FAILED" and "no secret access key" in empty["Reason"]


def test_rotate_replaces_the_key(client: Client, issued: dict[str, str]) -> None:
    created = client.custom_resource("Create", CR, {**ID, "UserName": "mailer"})
    arn = created["Data"]["SecretArn"]
    old_key = _keys("mailer")[0]
    result = client.invoke("rotate_smtp_credential", secret_id=arn, rotation_id="r-1")
    assert result["rotated"] is True and result["old_key_deleted"] is True
    new_keys = _keys("mailer")
    assert len(new_keys) == 1 and new_keys[0] != old_key
    secret = _secret(arn)
    assert secret["username"] == new_keys[0]
    assert secret["password"] == smtp_password(issued[new_keys[0]], "us-east-1")
    assert issued[new_keys[0]] not in json.dumps(result) and secret["password"] not in json.dumps(result)
    duplicate = client.invoke("rotate_smtp_credential", secret_id=arn, rotation_id="r-1")
    assert duplicate["rotated"] is False and _keys("mailer") == new_keys


def test_rotate_by_setting_and_refusals(client: Client, moto_aws: None,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    created = client.custom_resource("Create", CR, {**ID, "UserName": "mailer", "SecretName": "app/smtp"})
    monkeypatch.setenv("SES_SMTP_SECRET_ID", "app/smtp")
    assert client.invoke("rotate_smtp_credential")["secret_arn"] == created["Data"]["SecretArn"]
    with pytest.raises(NotFound):
        client.invoke("rotate_smtp_credential", secret_id="missing")
    aws.client("secretsmanager").create_secret(Name="other", SecretString="{}")
    with pytest.raises(ValidationFailed):
        client.invoke("rotate_smtp_credential", secret_id="other")


def test_rotation_does_not_remove_a_key_another_rotation_just_made(
        client: Client, issued: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    from opsfn.errors import Conflict
    from opsfn.routes.ses.smtp import rotation

    created = client.custom_resource("Create", CR, {**ID, "UserName": "mailer"})
    arn = created["Data"]["SecretArn"]
    aws.client("iam").create_access_key(UserName="mailer")  # a concurrent rotation, mid-way
    with pytest.raises(Conflict, match="under way"):
        client.invoke("rotate_smtp_credential", secret_id=arn)
    assert len(_keys("mailer")) == 2
    monkeypatch.setattr(rotation, "IN_FLIGHT_SECONDS", -1.0)  # later: the stray key is an orphan
    result = client.invoke("rotate_smtp_credential", secret_id=arn)
    assert result["orphan_keys_deleted"] == 1 and len(_keys("mailer")) == 1
    assert _secret(arn)["username"] == _keys("mailer")[0]


def test_rotation_through_the_action_queue_acts_once_per_rotation_id(
        client: Client, issued: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A queued rotation delivered twice (SQS is at-least-once) makes one new key, not two."""
    monkeypatch.setenv("OPSFN_ACTION_QUEUE", "opsfn-actions")
    arn = client.custom_resource("Create", CR, {**ID, "UserName": "mailer"})["Data"]["SecretArn"]
    old_key = _keys("mailer")[0]
    item = {"action": "rotate_smtp_credential", "secret_id": arn, "rotation_id": "q-1"}
    assert client.sqs([item], queue="opsfn-actions") == {"batchItemFailures": []}
    rotated = _keys("mailer")
    assert len(rotated) == 1 and rotated != [old_key]
    assert client.sqs([item], queue="opsfn-actions") == {"batchItemFailures": []}
    assert _keys("mailer") == rotated
    assert _secret(arn)["password"] == smtp_password(issued[rotated[0]], "us-east-1")
