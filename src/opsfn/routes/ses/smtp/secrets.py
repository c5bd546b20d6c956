"""The credential secret: read, claim, write and delete it (Secrets Manager I/O)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from opsfn.errors import Conflict
from opsfn.routes.ses.smtp.ownership import MANAGED, TAG_MANAGED, TAG_RESOURCE, owned, secret_tags, tag_map
from opsfn.services import aws


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
    return SecretState(reply["ARN"], reply["Name"], tag_map(reply.get("Tags")),
                       reply.get("DeletedDate") is not None)


def read_secret_json(secret_id: str) -> dict[str, Any]:
    """The secret's value as a JSON object ({} when it is not one)."""
    text = aws.client("secretsmanager").get_secret_value(SecretId=secret_id).get("SecretString")
    try:
        value = json.loads(text or "")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


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
                Name=name, SecretString=body, ClientRequestToken=token, Tags=secret_tags(tags),
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
        sm.tag_resource(SecretId=state.arn, Tags=secret_tags(changed))
    return state.arn


def delete_secret_if_owned(name: str, owner: str, recovery_days: int) -> None:
    state = describe_secret(name)
    if state is None or state.deleted or not owned(state.tags, (owner,)):
        return
    aws.client("secretsmanager").delete_secret(SecretId=state.arn,
                                               RecoveryWindowInDays=recovery_days)


# -- versions and staging labels ------------------------------------------------------------------
CURRENT, PENDING, PREVIOUS = "AWSCURRENT", "AWSPENDING", "AWSPREVIOUS"


def version_stages(secret_id: str) -> dict[str, list[str]]:
    """Version id -> its staging labels."""
    reply = aws.client("secretsmanager").describe_secret(SecretId=secret_id)
    return {str(k): [str(s) for s in v] for k, v in (reply.get("VersionIdsToStages") or {}).items()}


def labelled(stages: dict[str, list[str]], label: str) -> str | None:
    """The version carrying ``label``, if any."""
    return next((version for version, labels in stages.items() if label in labels), None)


def read_version(secret_id: str, version_id: str) -> dict[str, Any]:
    """One version's value as a JSON object ({} when it is not one)."""
    text = aws.client("secretsmanager").get_secret_value(
        SecretId=secret_id, VersionId=version_id).get("SecretString")
    try:
        value = json.loads(text or "")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def put_pending(secret_id: str, value: dict[str, Any], token: str) -> str:
    """Store ``value`` as the AWSPENDING version (readers still get AWSCURRENT); its id."""
    reply = aws.client("secretsmanager").put_secret_value(
        SecretId=secret_id, SecretString=json.dumps(value), ClientRequestToken=token,
        VersionStages=[PENDING])
    return str(reply["VersionId"])


def promote(secret_id: str, pending_id: str, current_id: str) -> None:
    """Make the pending version AWSCURRENT (the old one becomes AWSPREVIOUS), then unlabel it."""
    sm = aws.client("secretsmanager")
    sm.update_secret_version_stage(SecretId=secret_id, VersionStage=CURRENT,
                                   MoveToVersionId=pending_id, RemoveFromVersionId=current_id)
    discard_pending(secret_id, pending_id)


def discard_pending(secret_id: str, pending_id: str) -> None:
    """Take the AWSPENDING label off a version."""
    aws.client("secretsmanager").update_secret_version_stage(
        SecretId=secret_id, VersionStage=PENDING, RemoveFromVersionId=pending_id)
