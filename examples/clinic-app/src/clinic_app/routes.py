"""The clinic's routes: referral intake (HTTP), its triage (S3) and the clinic directory (a
CloudFormation custom resource).

Referrals hold patient data: the object key is a random id, the reply carries only that id, and
nothing from the referral is logged. Objects are written with SSE-S3.
"""

from __future__ import annotations

import json
import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from opsfn import Context, CustomResourceRequest, CustomResourceResult, Response, Router, S3Object, setting
from opsfn.access import allow, objects
from opsfn.errors import InvalidContent
from opsfn.services import aws

from clinic_app.settings import ClinicSettings
from clinic_app.triage import DEPARTMENTS, due_within_days, queue_name

router = Router()

REFERRALS = "referrals/"
TRIAGE = "triage/"
DIRECTORY_KEY = "directory/clinic.json"


class Referral(BaseModel):
    """A referral as the referring practice sends it."""

    model_config = ConfigDict(extra="forbid")

    department: Literal["cardiology", "dermatology", "radiology"]
    urgency: Literal["routine", "soon", "urgent"] = "routine"
    reason: str = Field(min_length=1, max_length=2000)
    contact: EmailStr


class DirectoryProperties(BaseModel):
    """The custom resource's properties."""

    Departments: list[str] = Field(default_factory=lambda: list(DEPARTMENTS), max_length=20)


def _bucket() -> str:
    return ClinicSettings.current().required("CLINIC_REFERRALS_BUCKET")


@router.post("/referrals", auth="jwt", access=[
    allow("s3:PutObject", on=objects("CLINIC_REFERRALS_BUCKET", REFERRALS)),
])
def submit_referral(referral: Referral, context: Context) -> Response:
    """Store a referral for triage; the reply names it by a random id only."""
    referral_id = uuid.uuid4().hex
    record = {"referralId": referral_id, "submittedBy": context.caller,
              **referral.model_dump(mode="json")}
    aws.client("s3").put_object(
        Bucket=_bucket(), Key=f"{REFERRALS}{referral_id}.json", Body=json.dumps(record).encode(),
        ContentType="application/json", ServerSideEncryption="AES256")
    return Response(status=202, body={"referralId": referral_id, "status": "received"})


@router.s3(bucket=setting("CLINIC_REFERRALS_BUCKET"), prefix=REFERRALS, suffix=".json", access=[
    allow("s3:GetObject", on=objects("CLINIC_REFERRALS_BUCKET", REFERRALS)),
    allow("s3:PutObject", on=objects("CLINIC_REFERRALS_BUCKET", TRIAGE)),
])
def triage_referral(obj: S3Object, context: Context) -> dict[str, object]:
    """Put a stored referral in its department's queue, with the day it is due by."""
    s3 = aws.client("s3")
    data = s3.get_object(Bucket=obj.bucket, Key=obj.key)["Body"].read()
    try:
        stored = json.loads(data)
        referral = Referral.model_validate({k: v for k, v in stored.items()
                                            if k in Referral.model_fields})
    except ValueError:
        raise InvalidContent("the stored referral is not a valid referral") from None
    referral_id = obj.key[len(REFERRALS):-len(".json")]
    days = due_within_days(referral.urgency, ClinicSettings.current().urgent_within_days)
    result = {"referralId": referral_id, "queue": queue_name(referral.department, referral.urgency),
              "dueWithinDays": days}
    s3.put_object(Bucket=obj.bucket, Key=f"{TRIAGE}{referral_id}.json",
                  Body=json.dumps(result).encode(), ContentType="application/json",
                  ServerSideEncryption="AES256")
    context.logger.info("referral triaged", extra={"queue": result["queue"]})
    return result


@router.custom_resource("Custom::ClinicDirectory", access=[
    allow("s3:PutObject", "s3:DeleteObject", on=objects("CLINIC_REFERRALS_BUCKET", "directory/")),
])
def clinic_directory(props: DirectoryProperties, request: CustomResourceRequest
                     ) -> CustomResourceResult:
    """The clinic's public directory object: written on Create/Update, removed on Delete."""
    bucket = _bucket()
    s3 = aws.client("s3")
    physical_id = f"{bucket}/{DIRECTORY_KEY}"
    if request.request_type == "Delete":
        s3.delete_object(Bucket=bucket, Key=DIRECTORY_KEY)
        return CustomResourceResult(physical_resource_id=physical_id)
    unknown = sorted(set(props.Departments) - set(DEPARTMENTS))
    if unknown:
        raise InvalidContent(f"unknown departments: {', '.join(unknown)}")
    body = {"name": ClinicSettings.current().clinic_name, "departments": props.Departments}
    s3.put_object(Bucket=bucket, Key=DIRECTORY_KEY, Body=json.dumps(body).encode(),
                  ContentType="application/json", ServerSideEncryption="AES256")
    return CustomResourceResult(physical_resource_id=physical_id,
                                data={"Key": DIRECTORY_KEY, "Departments": len(props.Departments)})
