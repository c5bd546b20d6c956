"""Both ways to a credential: an IAM user of its own, or a password derived from a key kept elsewhere."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from opsfn.errors import NotFound, ValidationFailed
from opsfn.events import CustomResourceRequest
from opsfn.routes.ses.settings import SesSettings
from opsfn.routes.ses.smtp.iam import POLICY_NAME, access_keys, delete_key, ensure_user, user_tags
from opsfn.routes.ses.smtp.models import SmtpCredentialProps, is_arn
from opsfn.routes.ses.smtp.ownership import (
    MANAGED,
    TAG_MANAGED,
    TAG_REGION,
    TAG_RESOURCE,
    TAG_USER,
    owned,
    request_token,
)
from opsfn.routes.ses.smtp.secrets import (
    SecretState,
    claim_secret,
    delete_secret_if_owned,
    read_secret_json,
    write_secret,
)
from opsfn.routes.ses.smtp_password import smtp_host, smtp_password, smtp_regions
from opsfn.services import aws
from opsfn.settings import core_settings

_ID_FIELDS = ("AccessKeyId", "access_key_id", "accessKeyId", "aws_access_key_id", "username")



def default_region() -> str:
    """SES_SMTP_REGION, else the function's region."""
    settings = SesSettings.current()
    return settings.smtp_region or core_settings().region or ""


def resolve_region(requested: str | None, loc: str) -> str:
    """The SMTP region (requested or default), refused when it has no SES SMTP endpoint."""
    settings = SesSettings.current()
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



def credential(key_id: str, secret_key: str, region: str, port: int) -> dict[str, Any]:
    extra = SesSettings.current().smtp_extra_regions
    return {"username": key_id, "password": smtp_password(secret_key, region, extra_regions=extra),
            "host": smtp_host(region), "port": port}


def provision_user_credential(props: SmtpCredentialProps, region: str, port: int, owner: str,
                              previous: str | None) -> dict[str, str]:
    """Create or converge the user, its single key and the secret; returns CloudFormation Data."""
    user = str(props.user_name)
    name = props.target_secret()
    state = claim_secret(name, owner, previous, adopt_unmanaged=False)  # fail before any change
    ensure_user(user, owner, previous, str(props.identity_arn))
    recorded = read_secret_json(state.arn) if state is not None else {}
    recorded_key = str(recorded.get("username") or "")
    recorded_region = state.tags.get(TAG_REGION) if state is not None else None
    keys = access_keys(user)
    tags = {TAG_MANAGED: MANAGED, TAG_RESOURCE: owner, TAG_USER: user, TAG_REGION: region}
    if recorded_key in keys and recorded_region == region and state is not None:
        value = {**recorded, "host": smtp_host(region), "port": port}
        arn = write_secret(name, state, value, tags, request_token(owner, recorded_key, region, str(port)))
    else:
        for key_id in keys:
            if key_id != recorded_key:
                delete_key(user, key_id)  # orphan of an attempt that died before the write
        created = aws.client("iam").create_access_key(UserName=user)["AccessKey"]
        value = credential(created["AccessKeyId"], created["SecretAccessKey"], region, port)
        arn = write_secret(name, state, value, tags,
                           request_token(owner, created["AccessKeyId"], region, str(port)))
        if recorded_key in keys:
            delete_key(user, recorded_key)  # replaced (region change): the old key goes last
    return {"SecretArn": arn, "Host": smtp_host(region), "Port": str(port), "UserName": user}


def delete_user_credential(props: SmtpCredentialProps, owner: str) -> None:
    """Remove the user, its keys and policy, and schedule the secret's deletion, if ``owner``'s."""
    settings = SesSettings.current()
    user = str(props.user_name)
    if owned(user_tags(user), (owner,)):
        iam = aws.client("iam")
        for key_id in access_keys(user):
            delete_key(user, key_id)
        try:
            iam.delete_user_policy(UserName=user, PolicyName=POLICY_NAME)
        except iam.exceptions.NoSuchEntityException:
            pass
        try:
            iam.delete_user(UserName=user)
        except iam.exceptions.NoSuchEntityException:
            pass
    delete_secret_if_owned(props.target_secret(), owner, settings.smtp_secret_recovery_days)



def source_key(props: SmtpCredentialProps, *, need_key_id: bool) -> tuple[str, str]:
    """(access key id, secret access key) from the source secret (a name or an ARN).

    The key is the field ``SourceSecretKeyField`` of a JSON secret (the OpenEMR stack keeps it
    under ``password``), or the whole value of a plain-text one. The key id is only looked up
    when the target needs a username (``need_key_id``): ``AccessKeyId``, else the field
    ``SourceAccessKeyIdField``, else one of the usual names.
    """
    source = str(props.source_secret_id)  # the derive variant: check_variant made sure it is set
    sm = aws.client("secretsmanager")
    try:
        text = sm.get_secret_value(SecretId=source).get("SecretString") or ""
    except sm.exceptions.ResourceNotFoundException:
        raise NotFound("the source secret does not exist") from None
    try:
        parsed: Any = json.loads(text)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        id_fields = ((props.source_access_key_id_field,) if props.source_access_key_id_field
                     else _ID_FIELDS)
        field = parsed.get(props.source_secret_key_field)
        secret_key = str(field) if isinstance(field, str) else ""
        key_id = props.access_key_id or next((str(parsed[f]) for f in id_fields if parsed.get(f)), "")
    else:
        secret_key, key_id = text.strip(), props.access_key_id or ""
    if not secret_key:
        raise ValidationFailed("the source secret holds no secret access key", details=[
            {"loc": "properties.SourceSecretKeyField",
             "msg": f"field {props.source_secret_key_field!r} not found in the secret",
             "type": "value_error"}])
    if need_key_id and not key_id:
        raise ValidationFailed(
            "no access key id: set AccessKeyId or SourceAccessKeyIdField, or SecretField to "
            "write the password only", details=[
                {"loc": "properties.AccessKeyId", "msg": "Field required", "type": "missing"}])
    return key_id, secret_key


def target_value(props: SmtpCredentialProps, state: SecretState | None, key: tuple[str, str],
                 region: str, port: int) -> dict[str, Any]:
    """What the target secret holds: the whole credential, or (``SecretField``) only the
    derived password in that field, next to whatever else the secret already keeps."""
    key_id, secret_key = key
    if props.secret_field is None:
        return credential(key_id, secret_key, region, port)
    extra = SesSettings.current().smtp_extra_regions
    kept = read_secret_json(state.arn) if state is not None else {}
    return {**kept, props.secret_field: smtp_password(secret_key, region, extra_regions=extra)}


def provision_derived_credential(props: SmtpCredentialProps, region: str, port: int, owner: str,
                                 previous: str | None) -> dict[str, str]:
    """Derive the password from the source secret and write the target secret (name or ARN).

    A target given by ARN must exist (an ARN cannot name a secret to create). Writing the
    value the secret already holds is skipped, so a repeated request adds no version.
    """
    key = source_key(props, need_key_id=props.secret_field is None)
    name = props.target_secret()
    state = claim_secret(name, owner, previous, adopt_unmanaged=True)
    if state is None and is_arn(name):
        raise NotFound("the target secret does not exist")
    value = target_value(props, state, key, region, port)
    if state is None or state.managed:
        tags = {TAG_MANAGED: MANAGED, TAG_RESOURCE: owner, TAG_REGION: region}
    else:
        tags = {}  # a secret we did not create stays untagged: its Delete is not ours to do
    if state is not None and read_secret_json(state.arn) == value and all(
            state.tags.get(k) == v for k, v in tags.items()):
        arn = state.arn
    else:
        digest = hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()
        arn = write_secret(name, state, value, tags, request_token(owner, digest, region))
    return {"SecretArn": arn, "Host": smtp_host(region), "Port": str(port)}
