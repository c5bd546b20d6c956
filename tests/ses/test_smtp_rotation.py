"""SMTP credential rotation with staging labels and a grace period, end to end against moto.

"Containers" here do what an ECS task does at start: read the secret's current version and keep
that username and password for as long as they run. A credential *works* when its username is
an access key the IAM user still has and its password is the SES SMTP password of that key's
secret. Hooks on every AWS call that changes keys or labels check, at that very moment, that every
container that may still run within the grace period, and one starting right then, has a working
credential.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest

from opsfn.errors import Conflict, UpstreamError
from opsfn.routes.ses.smtp import rotation
from opsfn.routes.ses.smtp_password import smtp_password
from opsfn.services import aws
from opsfn.testing import Client
from tests.ses.conftest import issued_keys

CR = "Custom::SmtpCredential"
IDENTITY = "arn:aws:ses:us-east-1:123456789012:identity/example.com"
GRACE = 3600
USER = "mailer"


class Clock:
    """rotation's clock, moved by hand (the grace period is an hour)."""

    def __init__(self) -> None:
        import time

        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    found = Clock()
    monkeypatch.setattr(rotation, "_clock", found)
    return found


@pytest.fixture
def issued(moto_aws: None) -> Iterator[dict[str, str]]:
    """Every access key IAM hands out: id -> secret (read from the CreateAccessKey replies)."""
    yield issued_keys()


@pytest.fixture
def timing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SES_SMTP_ROTATION_GRACE_SECONDS", str(GRACE))
    monkeypatch.setenv("SES_SMTP_KEY_PROPAGATION_SECONDS", "0")
    monkeypatch.setenv("SES_SMTP_SECRET_ID", f"opsfn/ses-smtp/{USER}")


def _keys() -> list[str]:
    return [k["AccessKeyId"] for k in
            aws.client("iam").list_access_keys(UserName=USER)["AccessKeyMetadata"]]


def start_container() -> dict[str, Any]:
    """What an ECS task gets when it starts: the secret's current value."""
    text = aws.client("secretsmanager").get_secret_value(
        SecretId=f"opsfn/ses-smtp/{USER}")["SecretString"]
    return dict(json.loads(text))


def works(credential: dict[str, Any], issued: dict[str, str]) -> bool:
    key = credential["username"]
    return key in _keys() and credential["password"] == smtp_password(issued[key], "us-east-1")


def _stages() -> dict[str, list[str]]:
    reply = aws.client("secretsmanager").describe_secret(SecretId=f"opsfn/ses-smtp/{USER}")
    return {k: list(v) for k, v in reply["VersionIdsToStages"].items()}


def _value_of(stage: str) -> dict[str, Any]:
    text = aws.client("secretsmanager").get_secret_value(
        SecretId=f"opsfn/ses-smtp/{USER}", VersionStage=stage)["SecretString"]
    return dict(json.loads(text))


@pytest.fixture
def credential(client: Client, issued: dict[str, str], timing: None) -> str:
    created = client.custom_resource("Create", CR, {"UserName": USER, "IdentityArn": IDENTITY})
    assert created["Status"] == "SUCCESS", created["Reason"]
    return str(created["Data"]["SecretArn"])


class Watch:
    """Checks, after every call that changes keys or labels, that no delivery can fail.

    A running container must keep working while its key is the current one and for the grace
    period after that key stopped being current; a container starting at any moment must work.
    """

    OPERATIONS = ("iam.CreateAccessKey", "iam.DeleteAccessKey",
                  "secrets-manager.PutSecretValue", "secrets-manager.UpdateSecretVersionStage",
                  "secrets-manager.TagResource")

    def __init__(self, issued: dict[str, str], clock: Clock) -> None:
        self.issued, self.clock = issued, clock
        self.running: list[dict[str, Any]] = []
        self.replaced: dict[str, float] = {}  # key -> when it stopped being current
        self.checks: list[str] = []
        self.problems: list[str] = []

    def start(self) -> dict[str, Any]:
        found = start_container()
        assert works(found, self.issued)
        self.running.append(found)
        return found

    def check(self, operation: str) -> Callable[..., None]:
        def after(**_: Any) -> None:
            current = start_container()
            if not works(current, self.issued):
                self.problems.append(f"a container starting after {operation} cannot send")
            for held in self.running:
                key = held["username"]
                if key != current["username"]:
                    self.replaced.setdefault(key, self.clock.now)
                due = self.replaced.get(key)
                if (due is None or self.clock.now < due + GRACE) and not works(held, self.issued):
                    self.problems.append(f"a running container cannot send after {operation}")
            self.checks.append(operation)

        return after

    def install(self) -> None:
        for operation in self.OPERATIONS:
            service, name = operation.split(".")
            client = aws.client("iam" if service == "iam" else "secretsmanager")
            client.meta.events.register(f"after-call.{service}.{name}", self.check(operation))


@pytest.fixture
def watch(credential: str, issued: dict[str, str], clock: Clock) -> Watch:
    found = Watch(issued, clock)
    found.install()
    return found


def test_the_old_key_works_through_the_grace_period_and_goes_after_it(
        client: Client, credential: str, watch: Watch, clock: Clock, issued: dict[str, str],
        secret: Callable[[str], str]) -> None:
    before = watch.start()  # a container running before the rotation
    result = client.invoke("rotate_smtp_credential", rotation_id="r-1")
    assert (result["rotated"], result["pending"], result["old_key_deleted"]) == (True, False, False)
    retires = datetime.fromisoformat(result["old_key_retires_at"]).timestamp()
    assert retires == pytest.approx(clock.now + GRACE, abs=1)
    assert {"secrets-manager.PutSecretValue", "secrets-manager.UpdateSecretVersionStage",
            "iam.CreateAccessKey"} <= set(watch.checks)

    # Labels: the new key is AWSCURRENT, the old one AWSPREVIOUS, nothing pending.
    stages = sorted(label for labels in _stages().values() for label in labels)
    assert stages == ["AWSCURRENT", "AWSPREVIOUS"]
    assert _value_of("AWSPREVIOUS") == before
    after = watch.start()  # a container started after the rotation gets the new key
    assert after["username"] != before["username"]
    assert sorted(_keys()) == sorted([before["username"], after["username"]])
    assert works(before, issued) and works(after, issued)

    # Within the grace period: the schedule leaves the old key; a new rotation must wait.
    clock.now += GRACE - 60
    early = client.schedule("finish-smtp-rotation", scheduler=True)["result"]
    assert early["old_key_deleted"] is False and works(before, issued)
    with pytest.raises(Conflict, match="keeps working until"):
        client.invoke("rotate_smtp_credential", rotation_id="r-2")
    assert len(_keys()) == 2

    # After it: the schedule deletes the old key, and only that one.
    clock.now += 120
    done = client.schedule("finish-smtp-rotation", scheduler=True)["result"]
    assert done["old_key_deleted"] is True and done["old_key_retires_at"] is None
    assert _keys() == [after["username"]]
    assert not works(before, issued) and works(after, issued)

    # A redelivered r-1 does nothing; the next rotation can start now.
    assert client.invoke("rotate_smtp_credential", rotation_id="r-1")["rotated"] is False
    assert client.invoke("rotate_smtp_credential", rotation_id="r-2")["rotated"] is True
    assert len(_keys()) == 2 and works(after, issued)
    assert json.dumps(result).find(after["password"]) == -1
    assert "iam.DeleteAccessKey" in watch.checks and watch.problems == []
    for value in (*issued.values(), before["password"], after["password"]):
        secret(value)  # and the leak check finds none of them in the logs of this test


def test_a_new_key_is_promoted_only_once_it_has_propagated(
        credential: str, watch: Watch, issued: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from opsfn.core.app import App
    from opsfn.routes import ses, tls

    monkeypatch.setenv("SES_SMTP_KEY_PROPAGATION_SECONDS", "30")
    slept: list[float] = []
    monkeypatch.setattr(rotation, "_sleep", slept.append)
    before = watch.start()
    short = Client(App([tls.router, ses.router]), timeout_ms=10_000)  # 10 s left: cannot wait
    result = short.invoke("rotate_smtp_credential")
    assert (result["rotated"], result["pending"]) == (False, True) and slept == []
    pending = _value_of("AWSPENDING")
    assert pending["username"] != before["username"]
    assert start_container() == before  # new tasks still get the old, working key
    assert works(pending, issued)  # and the pending one exists (for when it is promoted)

    patient = Client(App([tls.router, ses.router]), timeout_ms=120_000)
    finished = patient.schedule("finish-smtp-rotation", scheduler=True)["result"]
    assert finished["rotated"] is True and finished["pending"] is False
    assert len(slept) == 1 and 25 < slept[0] <= 30  # waited for the rest of the 30 s
    assert start_container() == pending
    assert works(before, issued)  # the old key still works: its grace period starts now
    assert watch.checks and watch.problems == []


def test_a_run_that_died_after_the_pending_version_is_finished_by_the_next(
        client: Client, credential: str, watch: Watch, issued: dict[str, str]) -> None:
    sm = aws.client("secretsmanager")

    def fail(**_: Any) -> None:
        raise RuntimeError("lost")

    before = watch.start()
    sm.meta.events.register("before-call.secrets-manager.UpdateSecretVersionStage", fail)
    with pytest.raises(Exception):  # noqa: B017 - a crash of any kind
        client.invoke("rotate_smtp_credential", rotation_id="r-1")
    sm.meta.events.unregister("before-call.secrets-manager.UpdateSecretVersionStage", fail)
    assert start_container() == before and len(_keys()) == 2  # pending, not current
    created = len(issued)
    again = client.invoke("rotate_smtp_credential", rotation_id="r-1")  # the redelivery
    assert again["rotated"] is True and len(issued) == created  # the pending key, no new one
    assert start_container()["username"] == _value_of("AWSCURRENT")["username"] != before[
        "username"]
    assert works(before, issued) and watch.problems == []


def test_a_run_that_died_before_recording_the_old_key_still_gives_it_its_grace(
        client: Client, credential: str, watch: Watch, clock: Clock, issued: dict[str, str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    before = watch.start()
    real_tag = rotation._tag
    calls: list[dict[str, str]] = []

    def tag_then_die(view: Any, tags: dict[str, str]) -> None:
        calls.append(tags)
        if tags.get(rotation.TAG_RETIRING):
            raise UpstreamError("AWS TagResource failed: ThrottlingException")
        real_tag(view, tags)

    monkeypatch.setattr(rotation, "_tag", tag_then_die)
    with pytest.raises(UpstreamError):
        client.invoke("rotate_smtp_credential")
    monkeypatch.setattr(rotation, "_tag", real_tag)
    assert start_container()["username"] != before["username"]  # promoted, then it died

    clock.now += GRACE * 5  # much later: the grace still counts from when the key was found
    found = client.schedule("finish-smtp-rotation", scheduler=True)["result"]
    assert found["old_key_deleted"] is False
    assert found["old_key_retires_at"] is not None and works(before, issued)
    clock.now += GRACE + 1
    assert client.schedule("finish-smtp-rotation", scheduler=True)["result"]["old_key_deleted"]
    assert not works(before, issued) and watch.problems == []


def test_a_pending_key_that_disappeared_is_never_promoted(
        credential: str, watch: Watch, issued: dict[str, str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from opsfn.core.app import App
    from opsfn.routes import ses, tls

    monkeypatch.setenv("SES_SMTP_KEY_PROPAGATION_SECONDS", "30")
    before = watch.start()
    short = Client(App([tls.router, ses.router]), timeout_ms=10_000)
    assert short.invoke("rotate_smtp_credential")["pending"] is True
    pending = _value_of("AWSPENDING")["username"]
    aws.client("iam").delete_access_key(UserName=USER, AccessKeyId=pending)  # by someone else
    monkeypatch.setenv("SES_SMTP_KEY_PROPAGATION_SECONDS", "0")
    result = short.schedule("finish-smtp-rotation", scheduler=True)["result"]
    assert (result["rotated"], result["pending"]) == (False, False)
    assert start_container() == before and works(before, issued)
    assert all("AWSPENDING" not in labels for labels in _stages().values())
    assert watch.problems == []


def test_without_a_grace_period_the_old_key_goes_in_the_same_run(
        client: Client, credential: str, watch: Watch, issued: dict[str, str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """What the rotation did before the grace period: the watch sees the running container
    break at the moment of rotation (so it would catch a rotation that did this by default)."""
    monkeypatch.setenv("SES_SMTP_ROTATION_GRACE_SECONDS", "0")
    before = watch.start()
    result = client.invoke("rotate_smtp_credential")
    assert result["rotated"] is True and result["old_key_deleted"] is True
    assert _keys() == [start_container()["username"]] and not works(before, issued)
    assert watch.problems[0] == "a running container cannot send after iam.DeleteAccessKey"
    assert all(p.startswith("a running container") for p in watch.problems)
