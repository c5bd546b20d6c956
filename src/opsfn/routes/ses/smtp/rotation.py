"""Rotation of a user-variant credential: a new key in the secret, then the old key removed."""

from __future__ import annotations

import hashlib
import json

from opsfn.core.invocation import Context
from opsfn.errors import Conflict, NotFound, ValidationFailed
from opsfn.routes.ses.settings import SesSettings
from opsfn.routes.ses.smtp.iam import delete_key, key_ages
from opsfn.routes.ses.smtp.models import RotateInput, RotateResult
from opsfn.routes.ses.smtp.ownership import TAG_REGION, TAG_ROTATION, TAG_USER, request_token, secret_tags
from opsfn.routes.ses.smtp.provision import credential
from opsfn.routes.ses.smtp.secrets import SecretState, describe_secret, read_secret_json
from opsfn.routes.ses.smtp_password import smtp_host
from opsfn.services import aws, locks
from opsfn.services.settings import SharedSettings

# A key the secret does not know and younger than this belongs to a rotation still under way.
IN_FLIGHT_SECONDS = 120.0
ROTATION_LOCK_S = 300  # a rotation is a few IAM and Secrets Manager calls; a crashed one expires


def rotate(payload: RotateInput, context: Context) -> RotateResult:
    """Rotate a credential made by ``Custom::SmtpCredential`` (the IAM user variant).

    Copies delivered at once rotate once. With a lock table, rotations of one secret take turns
    (a copy that finds the lock held gets Conflict, and its retry finds the rotation id recorded);
    without one, a copy that finds the secret changed after making its key deletes that key.
    """
    settings = SesSettings.current()
    secret_id = payload.secret_id or settings.required("SES_SMTP_SECRET_ID")
    state = describe_secret(secret_id)
    if state is None or state.deleted:
        raise NotFound("the credential secret does not exist")
    if not SharedSettings.current().lock_table:
        return rotate_once(payload, state, context)
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
        return rotate_once(payload, fresh, context)
    finally:
        locks.release(lock)


def rotate_once(payload: RotateInput, state: SecretState, context: Context) -> RotateResult:
    """One rotation of the secret ``state`` describes (the caller holds its turn, if any)."""
    settings = SesSettings.current()
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
    ages = key_ages(user)
    keys = list(ages)
    if any(age < IN_FLIGHT_SECONDS for key, age in ages.items() if key != old_key):
        raise Conflict("another rotation of this credential is under way; try again later")
    orphans = sum(delete_key(user, key) for key in keys if key != old_key)
    created = aws.client("iam").create_access_key(UserName=user)["AccessKey"]
    if str(read_secret_json(state.arn).get("username") or "") != old_key:
        # A copy of this request rotated since we read the secret (IAM's two-key limit means
        # both creates succeed only once the first has replaced the old key): undo ours.
        delete_key(user, created["AccessKeyId"])
        raise Conflict("another rotation of this credential finished meanwhile; try again")
    value = credential(created["AccessKeyId"], created["SecretAccessKey"], region, port)
    aws.client("secretsmanager").put_secret_value(
        SecretId=state.arn, SecretString=json.dumps(value),
        ClientRequestToken=request_token(state.arn, created["AccessKeyId"]),
    )
    old_deleted = old_key in keys and delete_key(user, old_key)
    if payload.rotation_id:  # last: a redelivery skips only a rotation whose old key is gone
        aws.client("secretsmanager").tag_resource(
            SecretId=state.arn, Tags=secret_tags({TAG_ROTATION: payload.rotation_id}))
    context.logger.info("smtp credential rotated", extra={"orphans_deleted": orphans})
    return RotateResult(secret_arn=state.arn, user_name=user, rotated=True,
                        old_key_deleted=old_deleted, orphan_keys_deleted=orphans,
                        host=smtp_host(region), port=port)
