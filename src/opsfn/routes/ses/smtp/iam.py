"""The IAM user of the user variant: its tags, its single access key, its send-only policy."""

from __future__ import annotations

import datetime as dt
import json

from opsfn.errors import Conflict
from opsfn.routes.ses.smtp.ownership import MANAGED, TAG_MANAGED, TAG_RESOURCE, iam_tags, tag_map
from opsfn.services import aws

POLICY_NAME = "opsfn-ses-send-raw-email"


def send_policy(identity_arn: str) -> str:
    """The user's only permission: send (SMTP is ses:SendRawEmail) as one SES identity."""
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "ses:SendRawEmail", "Resource": identity_arn}],
    })


def user_tags(user: str) -> dict[str, str] | None:
    """The IAM user's tags, or None when the user does not exist."""
    iam = aws.client("iam")
    try:
        reply = iam.list_user_tags(UserName=user)
    except iam.exceptions.NoSuchEntityException:
        return None
    return tag_map(reply.get("Tags"))


def key_ages(user: str) -> dict[str, float]:
    """Access key id -> age in seconds."""
    reply = aws.client("iam").list_access_keys(UserName=user)
    now = dt.datetime.now(dt.UTC)
    return {key["AccessKeyId"]: (now - key["CreateDate"]).total_seconds()
            for key in reply.get("AccessKeyMetadata", [])}


def access_keys(user: str) -> list[str]:
    return list(key_ages(user))


def create_key(user: str) -> tuple[str, str]:
    """A new access key of ``user``: (id, secret); Conflict at IAM's two-keys limit."""
    iam = aws.client("iam")
    try:
        created = iam.create_access_key(UserName=user)["AccessKey"]
    except iam.exceptions.LimitExceededException:
        raise Conflict("the IAM user already has two access keys (a rotation's old key is still "
                       "in its grace period); try again once it has been deleted") from None
    return str(created["AccessKeyId"]), str(created["SecretAccessKey"])


def delete_key(user: str, key_id: str) -> bool:
    iam = aws.client("iam")
    try:
        iam.delete_access_key(UserName=user, AccessKeyId=key_id)
    except iam.exceptions.NoSuchEntityException:
        return False
    return True


def ensure_user(user: str, owner: str, previous: str | None, identity_arn: str) -> None:
    """Create the user (tagged as ours) or adopt it from the previous id of this resource."""
    iam = aws.client("iam")
    tags = user_tags(user)
    if tags is None:
        try:
            iam.create_user(UserName=user, Tags=iam_tags({TAG_MANAGED: MANAGED, TAG_RESOURCE: owner}))
        except iam.exceptions.EntityAlreadyExistsException:
            tags = user_tags(user)
        else:
            tags = {TAG_MANAGED: MANAGED, TAG_RESOURCE: owner}
    if tags is None or tags.get(TAG_MANAGED) != MANAGED:
        raise Conflict(f"IAM user {user} exists and is not managed by opsfn")
    if tags.get(TAG_RESOURCE) not in (owner, previous):
        raise Conflict(f"IAM user {user} is managed by another opsfn resource")
    if tags.get(TAG_RESOURCE) != owner:
        iam.tag_user(UserName=user, Tags=iam_tags({TAG_RESOURCE: owner}))
    iam.put_user_policy(UserName=user, PolicyName=POLICY_NAME,
                        PolicyDocument=send_policy(identity_arn))
