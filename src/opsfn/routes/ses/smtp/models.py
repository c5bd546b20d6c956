"""The properties of ``Custom::SmtpCredential`` and the rotation payload and result."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_pascal

from opsfn.errors import ValidationFailed

IAM_NAME = r"^[A-Za-z0-9_+=,.@-]{1,64}$"
SECRET_NAME = r"^[A-Za-z0-9/_+=.@-]{1,512}$"  # noqa: S105 - a name pattern, not a secret
SECRET_ARN = r"arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]{1,512}"  # noqa: S105
# A secret by name or by ARN (Secrets Manager accepts either as SecretId).
SECRET_ID = rf"^({SECRET_ARN}|[A-Za-z0-9/_+=.@-]{{1,512}})$"
IDENTITY_ARN = r"^arn:aws[a-z-]*:ses:[a-z0-9-]+:\d{12}:identity/[^\s*?]{1,320}$"
FIELD_NAME = r"^[A-Za-z0-9_.:@-]{1,128}$"
DEFAULT_KEY_FIELD = "SecretAccessKey"


def is_arn(secret_id: str) -> bool:
    """Whether a secret id is an ARN (which names a secret that must already exist)."""
    return secret_id.startswith("arn:")


class SmtpCredentialProps(BaseModel):
    """Properties of ``Custom::SmtpCredential`` (CloudFormation PascalCase names)."""

    model_config = ConfigDict(alias_generator=to_pascal, populate_by_name=True, extra="forbid",
                              defer_build=True)

    user_name: str | None = Field(None, pattern=IAM_NAME)
    secret_name: str | None = Field(None, pattern=SECRET_ID,
                                    description="The credential secret, by name or ARN.")
    secret_field: str | None = Field(
        None, pattern=FIELD_NAME,
        description="Write only the derived password, into this field of the secret (the other "
                    "fields stay); no access key id is needed then.")
    region: str | None = Field(None, pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")
    port: int | None = Field(None, gt=0, lt=65536)
    identity_arn: str | None = Field(
        None, pattern=IDENTITY_ARN,
        description="SES identity the IAM user may send as (its ses:SendRawEmail resource).")
    source_secret_id: str | None = Field(None, pattern=SECRET_ID,
                                         description="The secret holding the IAM key, by name or ARN.")
    source_secret_key_field: str = Field(DEFAULT_KEY_FIELD, pattern=FIELD_NAME)
    source_access_key_id_field: str | None = Field(None, pattern=FIELD_NAME)
    access_key_id: str | None = Field(None, pattern=r"^[A-Z0-9]{16,128}$")

    def variant_problem(self) -> tuple[str, str] | None:
        """(field, message) when the properties pick no variant or both; None when they are fine."""
        if self.source_secret_id is None and self.user_name is None:
            return "UserName", "give UserName (create an IAM user) or SourceSecretId and SecretName"
        if self.source_secret_id is not None and self.user_name is not None:
            return "SourceSecretId", "UserName and SourceSecretId are alternatives; give one"
        if self.source_secret_id is not None and self.secret_name is None:
            return "SecretName", "SecretName is required with SourceSecretId"
        if self.user_name is not None and self.identity_arn is None:
            return "IdentityArn", ("IdentityArn is required with UserName: the SES identity the "
                                   "user may send as")
        if self.user_name is not None and self.secret_field is not None:
            return "SecretField", "SecretField applies to SourceSecretId (the derive variant)"
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
    """What a rotation run did; never a key or password.

    ``rotated``: the secret's AWSCURRENT version moved to a new key in this run. ``pending``: a
    new key waits in AWSPENDING for a later run. ``old_key_retires_at``: the previous key keeps
    working until then (its grace period); ``old_key_deleted``: a key whose grace period was over
    was deleted in this run.
    """

    model_config = ConfigDict(defer_build=True)

    secret_arn: str
    user_name: str
    rotated: bool
    pending: bool = False
    old_key_deleted: bool
    old_key_retires_at: str | None = None
    orphan_keys_deleted: int
    host: str
    port: int
