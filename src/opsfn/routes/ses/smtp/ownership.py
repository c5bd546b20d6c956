"""Ownership in tags: what opsfn made, and for which resource; request tokens for retries."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mypy_boto3_iam.type_defs import TagTypeDef as IamTag
    from mypy_boto3_secretsmanager.type_defs import TagTypeDef as SecretTag

TAG_MANAGED = "opsfn:managed-by"
TAG_RESOURCE = "opsfn:resource"
TAG_USER = "opsfn:iam-user"
TAG_REGION = "opsfn:smtp-region"
TAG_ROTATION = "opsfn:last-rotation"
TAG_RETIRING = "opsfn:retiring-key"  # the key a rotation replaced, working until its grace ends
TAG_RETIRE_AFTER = "opsfn:retire-after"  # epoch seconds at which that key may be deleted
MANAGED = "opsfn"


def tag_map(items: Iterable[Mapping[str, object]] | None) -> dict[str, str]:
    """AWS's ``[{Key, Value}]`` tags as a dict."""
    return {str(item["Key"]): str(item["Value"]) for item in items or []}


def iam_tags(tags: dict[str, str]) -> list[IamTag]:
    """A dict as IAM's tag list."""
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def secret_tags(tags: dict[str, str]) -> list[SecretTag]:
    """A dict as Secrets Manager's tag list."""
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def request_token(*parts: str) -> str:
    """A deterministic ClientRequestToken: a retried write is the same version, not a new one."""
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:48]


def owned(tags: dict[str, str] | None, owners: tuple[str | None, ...]) -> bool:
    """Tagged as opsfn's and as belonging to one of ``owners``."""
    return (tags is not None and tags.get(TAG_MANAGED) == MANAGED
            and tags.get(TAG_RESOURCE) in owners)
