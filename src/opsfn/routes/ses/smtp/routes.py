"""The routes: the ``Custom::SmtpCredential`` resource and the ``rotate_smtp_credential`` action."""

from __future__ import annotations

from typing import Any

from opsfn import Context, Router
from opsfn.access import allow, arn, arn_pattern, secret
from opsfn.events import CustomResourceRequest, CustomResourceResult, ScheduleEvent
from opsfn.routes.ses.settings import SesSettings
from opsfn.routes.ses.smtp.models import RotateInput, RotateResult, SmtpCredentialProps
from opsfn.routes.ses.smtp.provision import (
    delete_user_credential,
    physical_id,
    provision_derived_credential,
    provision_user_credential,
    resolve_region,
)
from opsfn.routes.ses.smtp.rotation import finish, rotate
from opsfn.routes.ses.smtp.secrets import delete_secret_if_owned
from opsfn.services import locks

router = Router()


# The credential's IAM user and secret, or the secrets a derived password is read from and
# written to: each named by a setting, nothing else.
SMTP = [
    *locks.ACCESS,  # one rotation at a time
    allow("secretsmanager:CreateSecret", "secretsmanager:PutSecretValue",
          "secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret",
          "secretsmanager:TagResource", "secretsmanager:DeleteSecret",
          "secretsmanager:RestoreSecret", "secretsmanager:UpdateSecretVersionStage",
          on=secret("SES_SMTP_SECRET_ID"), name="SmtpUserCredentialSecret"),
    allow("iam:CreateUser", "iam:GetUser", "iam:DeleteUser", "iam:TagUser", "iam:ListUserTags",
          "iam:PutUserPolicy", "iam:DeleteUserPolicy", "iam:CreateAccessKey",
          "iam:ListAccessKeys", "iam:DeleteAccessKey",
          on=arn_pattern("arn:{partition}:iam::{account}:user/{SES_SMTP_USER_NAME}"),
          name="SmtpIamUserOnly"),
    allow("secretsmanager:GetSecretValue", on=arn("SES_SMTP_SOURCE_SECRET_ARN"),
          name="SmtpSourceSecretReadOnly"),
    allow("secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue",
          "secretsmanager:PutSecretValue", on=arn("SES_SMTP_TARGET_SECRET_ARN"),
          name="SmtpTargetSecret"),
    allow("kms:Decrypt", "kms:GenerateDataKey", on=arn("SES_SMTP_SECRETS_KMS_KEY_ARN"),
          when={"StringEquals": {"kms:ViaService": "secretsmanager.{region}.amazonaws.com"}},
          why="Secrets Manager uses the secrets' key on the function's behalf",
          name="SmtpSecretsKeyThroughSecretsManager"),
]


@router.custom_resource("Custom::SmtpCredential", access=SMTP)
def smtp_credential_resource(props: SmtpCredentialProps, request: CustomResourceRequest,
                             context: Context) -> CustomResourceResult:
    """Create/Update converge the credential; Delete removes only what this resource owns."""
    settings = SesSettings.current()
    port = props.port or settings.smtp_port
    if request.request_type == "Delete":
        owner = request.physical_resource_id or request.default_physical_id()
        if props.variant_problem() is not None:
            return CustomResourceResult(physical_resource_id=owner)  # never created anything
        if props.mode == "user":
            delete_user_credential(props, owner)
        else:
            delete_secret_if_owned(props.target_secret(), owner, settings.smtp_secret_recovery_days)
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


@router.action("rotate_smtp_credential", queue=True, access=SMTP,
               description="New IAM key as AWSPENDING, then AWSCURRENT; the old key is deleted "
                           "after SES_SMTP_ROTATION_GRACE_SECONDS.")
def rotate_smtp_credential(payload: RotateInput, context: Context) -> RotateResult:
    """Rotate a credential made by ``Custom::SmtpCredential`` (see :mod:`rotation`)."""
    return rotate(payload, context)


@router.schedule("finish-smtp-rotation", expression="rate(1 hour)", access=SMTP)
def finish_smtp_rotation(event: ScheduleEvent, context: Context) -> dict[str, Any]:
    """Hourly: promote a pending key of SES_SMTP_SECRET_ID and delete an old one past its grace."""
    return finish(None, context).model_dump()
