"""SES SMTP credentials: ``Custom::SmtpCredential`` and the ``rotate_smtp_credential`` action.

Two variants, chosen by the properties:

* ``UserName`` given: opsfn creates an IAM user (tagged as managed by opsfn) allowed only
  ``ses:SendRawEmail``, one access key, and a Secrets Manager secret holding
  ``{username, password, host, port}`` (the SMTP username is the access key id).
* ``SourceSecretId`` given: the original stack's variant. The IAM key already exists in a secret;
  opsfn derives the SMTP password from it and writes ``{username, password, host, port}`` to the
  secret ``SecretName`` (created when missing, updated when it exists).

Ownership lives in tags: ``opsfn:managed-by=opsfn`` and ``opsfn:resource=<physical id>`` on the IAM
user and the secret. Delete removes only items whose resource tag is the id being deleted, so a
pre-existing user or secret is never touched, and after a replacement the old id's Delete leaves
what the new id adopted alone. The secret also records which access key it holds (its username), so
a retried Create reuses that key instead of making a second one, and a key the secret does not
know (left by an attempt that died between CreateAccessKey and the secret write) is deleted before
a new key is made: the user never keeps more than one key outside a rotation.

Data returns the secret ARN, host, port and user name: nothing secret, so NoEcho is not needed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_pascal

from opsfn import aws, locks
from opsfn.context import Context
from opsfn.errors import Conflict, NotFound, ValidationFailed
from opsfn.events import CustomResourceRequest, CustomResourceResult
from opsfn.router import Router
from opsfn.routes.platform.smtp_password import smtp_host, smtp_password, smtp_regions
from opsfn.settings import get_settings

router = Router()

TAG_MANAGED = "opsfn:managed-by"
TAG_RESOURCE = "opsfn:resource"
TAG_USER = "opsfn:iam-user"
TAG_REGION = "opsfn:smtp-region"
TAG_ROTATION = "opsfn:last-rotation"
MANAGED = "opsfn"
POLICY_NAME = "opsfn-ses-send-raw-email"
POLICY = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "ses:SendRawEmail", "Resource": "*"}],
})
_IAM_NAME = r"^[A-Za-z0-9_+=,.@-]{1,64}$"
_SECRET_NAME = r"^[A-Za-z0-9/_+=.@-]{1,512}$"  # noqa: S105 - a name pattern, not a secret
_KEY_FIELDS = ("SecretAccessKey", "secret_access_key", "secretAccessKey", "aws_secret_access_key")
_ID_FIELDS = ("AccessKeyId", "access_key_id", "accessKeyId", "aws_access_key_id", "username")
# A key the secret does not know and younger than this belongs to a rotation still under way.
IN_FLIGHT_SECONDS = 120.0
ROTATION_LOCK_S = 300  # a rotation is a few IAM and Secrets Manager calls; a crashed one expires


# -- models ---------------------------------------------------------------------------------------
class SmtpCredentialProps(BaseModel):
    """Properties of ``Custom::SmtpCredential`` (CloudFormation PascalCase names)."""

    model_config = ConfigDict(alias_generator=to_pascal, populate_by_name=True, extra="forbid",
                              defer_build=True)

    user_name: str | None = Field(None, pattern=_IAM_NAME)
    secret_name: str | None = Field(None, pattern=_SECRET_NAME)
    region: str | None = Field(None, pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")
    port: int | None = Field(None, gt=0, lt=65536)
    source_secret_id: str | None = Field(None, min_length=1, max_length=2048)
    source_secret_key_field: str | None = Field(None, min_length=1, max_length=128)
    source_access_key_id_field: str | None = Field(None, min_length=1, max_length=128)
    access_key_id: str | None = Field(None, pattern=r"^[A-Z0-9]{16,128}$")

    def variant_problem(self) -> tuple[str, str] | None:
        """(field, message) when the properties pick no variant or both; None when they are fine."""
        if self.source_secret_id is None and self.user_name is None:
            return "UserName", "give UserName (create an IAM user) or SourceSecretId and SecretName"
        if self.source_secret_id is not None and self.user_name is not None:
            return "SourceSecretId", "UserName and SourceSecretId are alternatives; give one"
        if self.source_secret_id is not None and self.secret_name is None:
            return "SecretName", "SecretName is required with SourceSecretId"
        return None

    def check_variant(self) -> None:
        """Raise ValidationFailed naming the property when the variant is unclear."""
        problem = self.variant_problem()
        if problem is not None:
            field, message = problem
            raise ValidationFailed(message, details=[
                {"loc": f"properties.{field}", "msg": message, "type": "value_error"}])

    @property
    def mode(self) -> Literal["user", "derive"]:
        return "derive" if self.source_secret_id else "user"

    def target_secret(self) -> str:
        """The credential secret's name (default ``opsfn/ses-smtp/<UserName>``)."""
        return self.secret_name or f"opsfn/ses-smtp/{self.user_name}"

    def identity(self, region: str) -> str:
        """What, when changed, makes this a different resource (CloudFormation replaces it)."""
        return "|".join((self.mode, self.user_name or "", self.source_secret_id or "",
                         self.target_secret(), region))


class RotateInput(BaseModel):
    """Payload of ``rotate_smtp_credential``; ``rotation_id`` makes a redelivered request a no-op."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    secret_id: str | None = Field(None, min_length=1, max_length=2048)
    rotation_id: str | None = Field(None, pattern=r"^[A-Za-z0-9_.:-]{1,128}$")


class RotateResult(BaseModel):
    """What rotation did; never a key or password."""

    model_config = ConfigDict(defer_build=True)

    secret_arn: str
    user_name: str
    rotated: bool
    old_key_deleted: bool
    orphan_keys_deleted: int
    host: str
    port: int


# -- small AWS helpers ----------------------------------------------------------------------------
def _tags(items: list[dict[str, str]] | None) -> dict[str, str]:
    return {item["Key"]: item["Value"] for item in items or []}


def _tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def _token(*parts: str) -> str:
    """A deterministic ClientRequestToken: a retried write is the same version, not a new one."""
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:48]


@dataclass
class SecretState:
    """A secret as describe_secret shows it."""

    arn: str
    name: str
    tags: dict[str, str]
    deleted: bool

    @property
    def managed(self) -> bool:
        return self.tags.get(TAG_MANAGED) == MANAGED

    @property
    def resource(self) -> str | None:
        return self.tags.get(TAG_RESOURCE)


def describe_secret(secret_id: str) -> SecretState | None:
    """The secret's state, or None when it does not exist."""
    sm = aws.client("secretsmanager")
    try:
        reply = sm.describe_secret(SecretId=secret_id)
    except sm.exceptions.ResourceNotFoundException:
        return None
    return SecretState(reply["ARN"], reply["Name"], _tags(reply.get("Tags")),
                       reply.get("DeletedDate") is not None)


def read_secret_json(secret_id: str) -> dict[str, Any]:
    """The secret's value as a JSON object ({} when it is not one)."""
    text = aws.client("secretsmanager").get_secret_value(SecretId=secret_id).get("SecretString")
    try:
        value = json.loads(text or "")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _user_tags(user: str) -> dict[str, str] | None:
    """The IAM user's tags, or None when the user does not exist."""
    iam = aws.client("iam")
    try:
        reply = iam.list_user_tags(UserName=user)
    except iam.exceptions.NoSuchEntityException:
        return None
    return _tags(reply.get("Tags"))


def _owned(tags: dict[str, str] | None, owners: tuple[str | None, ...]) -> bool:
    """Tagged as opsfn's and as belonging to one of ``owners``."""
    return (tags is not None and tags.get(TAG_MANAGED) == MANAGED
            and tags.get(TAG_RESOURCE) in owners)


def _key_ages(user: str) -> dict[str, float]:
    """Access key id -> age in seconds."""
    reply = aws.client("iam").list_access_keys(UserName=user)
    now = dt.datetime.now(dt.UTC)
    return {key["AccessKeyId"]: (now - key["CreateDate"]).total_seconds()
            for key in reply.get("AccessKeyMetadata", [])}


def _access_keys(user: str) -> list[str]:
    return list(_key_ages(user))


def _delete_key(user: str, key_id: str) -> bool:
    iam = aws.client("iam")
    try:
        iam.delete_access_key(UserName=user, AccessKeyId=key_id)
    except iam.exceptions.NoSuchEntityException:
        return False
    return True


# -- region and identity ------------------------------------------------------------------------
def default_region() -> str:
    """SES_SMTP_REGION, else the function's region."""
    settings = get_settings()
    return settings.smtp_region or settings.region or ""


def resolve_region(requested: str | None, loc: str) -> str:
    """The SMTP region (requested or default), refused when it has no SES SMTP endpoint."""
    settings = get_settings()
    region = requested or default_region()
    if region not in smtp_regions(settings.smtp_extra_regions):
        raise ValidationFailed(
            f"region {region[:32]!r} has no SES SMTP endpoint",
            details=[{"loc": loc, "msg": "region without an SES SMTP endpoint",
                      "type": "value_error"}],
        )
    return region


def physical_id(request: CustomResourceRequest, props: SmtpCredentialProps, region: str) -> str:
    """The id CloudFormation tracks: stable across retries, new when user/region/secret change.

    Create uses the request's default id, so a Create that fails (answered with that id) is
    cleaned up by the Delete CloudFormation sends next.
    """
    default = request.default_physical_id()
    if request.request_type == "Create":
        return default
    current = request.physical_resource_id or default
    old = request.old_properties
    if old is not None:
        try:
            old_props = SmtpCredentialProps.model_validate(old)
            if old_props.identity(old_props.region or default_region()) == props.identity(region):
                return current
        except ValueError:
            pass
    digest = hashlib.sha256(
        f"{request.stack_id}|{request.logical_resource_id}|{props.identity(region)}".encode()
    ).hexdigest()
    return f"{request.logical_resource_id[:80]}-{digest[:16]}"


# -- the IAM user variant -----------------------------------------------------------------------
def ensure_user(user: str, owner: str, previous: str | None) -> None:
    """Create the user (tagged as ours) or adopt it from the previous id of this resource."""
    iam = aws.client("iam")
    tags = _user_tags(user)
    if tags is None:
        try:
            iam.create_user(UserName=user, Tags=_tag_list({TAG_MANAGED: MANAGED, TAG_RESOURCE: owner}))
        except iam.exceptions.EntityAlreadyExistsException:
            tags = _user_tags(user)
        else:
            tags = {TAG_MANAGED: MANAGED, TAG_RESOURCE: owner}
    if tags is None or tags.get(TAG_MANAGED) != MANAGED:
        raise Conflict(f"IAM user {user} exists and is not managed by opsfn")
    if tags.get(TAG_RESOURCE) not in (owner, previous):
        raise Conflict(f"IAM user {user} is managed by another opsfn resource")
    if tags.get(TAG_RESOURCE) != owner:
        iam.tag_user(UserName=user, Tags=_tag_list({TAG_RESOURCE: owner}))
    iam.put_user_policy(UserName=user, PolicyName=POLICY_NAME, PolicyDocument=POLICY)


def claim_secret(name: str, owner: str, previous: str | None, *, adopt_unmanaged: bool
                 ) -> SecretState | None:
    """The target secret if it may be written (restored when it was scheduled for deletion)."""
    state = describe_secret(name)
    if state is None:
        return None
    if state.managed:
        if state.resource not in (owner, previous):
            raise Conflict(f"secret {name} is managed by another opsfn resource")
    elif not adopt_unmanaged:
        raise Conflict(f"secret {name} exists and is not managed by opsfn")
    if state.deleted:
        if not state.managed:
            raise Conflict(f"secret {name} is scheduled for deletion")
        aws.client("secretsmanager").restore_secret(SecretId=state.arn)
        state.deleted = False
    return state


def write_secret(name: str, state: SecretState | None, value: dict[str, Any],
                 tags: dict[str, str], token: str) -> str:
    """Create the secret with ``tags`` or put a new version; returns the ARN."""
    sm = aws.client("secretsmanager")
    body = json.dumps(value)
    if state is None:
        try:
            reply = sm.create_secret(
                Name=name, SecretString=body, ClientRequestToken=token, Tags=_tag_list(tags),
                Description="SES SMTP credentials (managed by opsfn)",
            )
            return str(reply["ARN"])
        except sm.exceptions.ResourceExistsException:
            state = describe_secret(name)
            if state is None:
                raise
    sm.put_secret_value(SecretId=state.arn, SecretString=body, ClientRequestToken=token)
    changed = {k: v for k, v in tags.items() if state.tags.get(k) != v}
    if changed:
        sm.tag_resource(SecretId=state.arn, Tags=_tag_list(changed))
    return state.arn


def _credential(key_id: str, secret_key: str, region: str, port: int) -> dict[str, Any]:
    extra = get_settings().smtp_extra_regions
    return {"username": key_id, "password": smtp_password(secret_key, region, extra_regions=extra),
            "host": smtp_host(region), "port": port}


def provision_user_credential(props: SmtpCredentialProps, region: str, port: int, owner: str,
                              previous: str | None) -> dict[str, str]:
    """Create or converge the user, its single key and the secret; returns CloudFormation Data."""
    user = str(props.user_name)
    name = props.target_secret()
    state = claim_secret(name, owner, previous, adopt_unmanaged=False)  # fail before any change
    ensure_user(user, owner, previous)
    recorded = read_secret_json(state.arn) if state is not None else {}
    recorded_key = str(recorded.get("username") or "")
    recorded_region = state.tags.get(TAG_REGION) if state is not None else None
    keys = _access_keys(user)
    tags = {TAG_MANAGED: MANAGED, TAG_RESOURCE: owner, TAG_USER: user, TAG_REGION: region}
    if recorded_key in keys and recorded_region == region and state is not None:
        value = {**recorded, "host": smtp_host(region), "port": port}
        arn = write_secret(name, state, value, tags, _token(owner, recorded_key, region, str(port)))
    else:
        for key_id in keys:
            if key_id != recorded_key:
                _delete_key(user, key_id)  # orphan of an attempt that died before the write
        created = aws.client("iam").create_access_key(UserName=user)["AccessKey"]
        value = _credential(created["AccessKeyId"], created["SecretAccessKey"], region, port)
        arn = write_secret(name, state, value, tags,
                           _token(owner, created["AccessKeyId"], region, str(port)))
        if recorded_key in keys:
            _delete_key(user, recorded_key)  # replaced (region change): the old key goes last
    return {"SecretArn": arn, "Host": smtp_host(region), "Port": str(port), "UserName": user}


def delete_user_credential(props: SmtpCredentialProps, owner: str) -> None:
    """Remove the user, its keys and policy, and schedule the secret's deletion, if ``owner``'s."""
    settings = get_settings()
    user = str(props.user_name)
    if _owned(_user_tags(user), (owner,)):
        iam = aws.client("iam")
        for key_id in _access_keys(user):
            _delete_key(user, key_id)
        try:
            iam.delete_user_policy(UserName=user, PolicyName=POLICY_NAME)
        except iam.exceptions.NoSuchEntityException:
            pass
        try:
            iam.delete_user(UserName=user)
        except iam.exceptions.NoSuchEntityException:
            pass
    _delete_secret_if_owned(props.target_secret(), owner, settings.smtp_secret_recovery_days)


def _delete_secret_if_owned(name: str, owner: str, recovery_days: int) -> None:
    state = describe_secret(name)
    if state is None or state.deleted or not _owned(state.tags, (owner,)):
        return
    aws.client("secretsmanager").delete_secret(SecretId=state.arn,
                                               RecoveryWindowInDays=recovery_days)


# -- the derive-from-existing-secret variant ----------------------------------------------------
def _source_key(props: SmtpCredentialProps) -> tuple[str, str]:
    """(access key id, secret access key) from the source secret."""
    sm = aws.client("secretsmanager")
    try:
        text = sm.get_secret_value(SecretId=props.source_secret_id).get("SecretString") or ""
    except sm.exceptions.ResourceNotFoundException:
        raise NotFound("the source secret does not exist") from None
    try:
        parsed: Any = json.loads(text)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        key_fields = (props.source_secret_key_field,) if props.source_secret_key_field else _KEY_FIELDS
        id_fields = ((props.source_access_key_id_field,) if props.source_access_key_id_field
                     else _ID_FIELDS)
        secret_key = next((str(parsed[f]) for f in key_fields if parsed.get(f)), "")
        key_id = props.access_key_id or next((str(parsed[f]) for f in id_fields if parsed.get(f)), "")
    else:
        secret_key, key_id = text.strip(), props.access_key_id or ""
    if not secret_key:
        raise ValidationFailed("the source secret holds no secret access key", details=[
            {"loc": "properties.SourceSecretKeyField", "msg": "field not found in the secret",
             "type": "value_error"}])
    if not key_id:
        raise ValidationFailed("no access key id: set AccessKeyId or SourceAccessKeyIdField", details=[
            {"loc": "properties.AccessKeyId", "msg": "Field required", "type": "missing"}])
    return key_id, secret_key


def provision_derived_credential(props: SmtpCredentialProps, region: str, port: int, owner: str,
                                 previous: str | None) -> dict[str, str]:
    """Derive the password from the source secret and write the target secret."""
    key_id, secret_key = _source_key(props)
    name = props.target_secret()
    state = claim_secret(name, owner, previous, adopt_unmanaged=True)
    value = _credential(key_id, secret_key, region, port)
    if state is None or state.managed:
        tags = {TAG_MANAGED: MANAGED, TAG_RESOURCE: owner, TAG_REGION: region}
    else:
        tags = {}  # a secret we did not create stays untagged: its Delete is not ours to do
    arn = write_secret(name, state, value, tags, _token(owner, key_id, region, str(port)))
    return {"SecretArn": arn, "Host": smtp_host(region), "Port": str(port)}


# -- routes ---------------------------------------------------------------------------------------
@router.custom_resource("Custom::SmtpCredential")
def smtp_credential_resource(props: SmtpCredentialProps, request: CustomResourceRequest,
                             context: Context) -> CustomResourceResult:
    """Create/Update converge the credential; Delete removes only what this resource owns."""
    settings = get_settings()
    port = props.port or settings.smtp_port
    if request.request_type == "Delete":
        owner = request.physical_resource_id or request.default_physical_id()
        if props.variant_problem() is not None:
            return CustomResourceResult(physical_resource_id=owner)  # never created anything
        if props.mode == "user":
            delete_user_credential(props, owner)
        else:
            _delete_secret_if_owned(props.target_secret(), owner, settings.smtp_secret_recovery_days)
        context.logger.info("smtp credential deleted", extra={"mode": props.mode})
        return CustomResourceResult(physical_resource_id=owner)
    props.check_variant()
    region = resolve_region(props.region, "properties.Region")
    owner = physical_id(request, props, region)
    previous = request.physical_resource_id if request.request_type == "Update" else None
    if props.mode == "user":
        data = provision_user_credential(props, region, port, owner, previous)
    else:
        data = provision_derived_credential(props, region, port, owner, previous)
    context.logger.info("smtp credential ready", extra={"mode": props.mode, "region": region})
    return CustomResourceResult(physical_resource_id=owner, data=data)


@router.action("rotate_smtp_credential", queue=True,
               description="New IAM key and SMTP password in the secret, then the old key removed.")
def rotate_smtp_credential(payload: RotateInput, context: Context) -> RotateResult:
    """Rotate a credential made by ``Custom::SmtpCredential`` (the IAM user variant).

    Copies delivered at once rotate once. With a lock table, rotations of one secret take turns
    (a copy that finds the lock held gets Conflict, and its retry finds the rotation id recorded);
    without one, a copy that finds the secret changed after making its key deletes that key.
    """
    settings = get_settings()
    secret_id = payload.secret_id or settings.required("SES_SMTP_SECRET_ID")
    state = describe_secret(secret_id)
    if state is None or state.deleted:
        raise NotFound("the credential secret does not exist")
    if not settings.lock_table:
        return _rotate(payload, state, context)
    digest = hashlib.sha256(state.arn.encode()).hexdigest()[:40]
    try:
        lock = locks.acquire(f"smtp-rotation:{digest}", ROTATION_LOCK_S)
    except Conflict:
        raise Conflict("another rotation of this credential is under way; try again later"
                       ) from None
    try:
        fresh = describe_secret(state.arn)  # tags as they are now that the turn is ours
        if fresh is None or fresh.deleted:
            raise NotFound("the credential secret does not exist")
        return _rotate(payload, fresh, context)
    finally:
        locks.release(lock)


def _rotate(payload: RotateInput, state: SecretState, context: Context) -> RotateResult:
    settings = get_settings()
    user, region = state.tags.get(TAG_USER), state.tags.get(TAG_REGION)
    if not state.managed or not user or not region:
        raise ValidationFailed("the secret is not an opsfn-managed SMTP credential with an IAM user",
                               details=[{"loc": "payload.secret_id", "msg": "not rotatable",
                                         "type": "value_error"}])
    current = read_secret_json(state.arn)
    port = int(current.get("port") or settings.smtp_port)
    if payload.rotation_id and state.tags.get(TAG_ROTATION) == payload.rotation_id:
        return RotateResult(secret_arn=state.arn, user_name=user, rotated=False,
                            old_key_deleted=False, orphan_keys_deleted=0, host=smtp_host(region),
                            port=port)
    old_key = str(current.get("username") or "")
    ages = _key_ages(user)
    keys = list(ages)
    if any(age < IN_FLIGHT_SECONDS for key, age in ages.items() if key != old_key):
        raise Conflict("another rotation of this credential is under way; try again later")
    orphans = sum(_delete_key(user, key) for key in keys if key != old_key)
    created = aws.client("iam").create_access_key(UserName=user)["AccessKey"]
    if str(read_secret_json(state.arn).get("username") or "") != old_key:
        # A copy of this request rotated since we read the secret (IAM's two-key limit means
        # both creates succeed only once the first has replaced the old key): undo ours.
        _delete_key(user, created["AccessKeyId"])
        raise Conflict("another rotation of this credential finished meanwhile; try again")
    value = _credential(created["AccessKeyId"], created["SecretAccessKey"], region, port)
    aws.client("secretsmanager").put_secret_value(
        SecretId=state.arn, SecretString=json.dumps(value),
        ClientRequestToken=_token(state.arn, created["AccessKeyId"]),
    )
    old_deleted = old_key in keys and _delete_key(user, old_key)
    if payload.rotation_id:  # last: a redelivery skips only a rotation whose old key is gone
        aws.client("secretsmanager").tag_resource(
            SecretId=state.arn, Tags=_tag_list({TAG_ROTATION: payload.rotation_id}))
    context.logger.info("smtp credential rotated", extra={"orphans_deleted": orphans})
    return RotateResult(secret_arn=state.arn, user_name=user, rotated=True,
                        old_key_deleted=old_deleted, orphan_keys_deleted=orphans,
                        host=smtp_host(region), port=port)
