"""The clinic's other triggers, one route of each kind: a direct invoke (the status of a referral),
a schedule (the daily digest), an EventBridge event (an appointment booked), an SQS queue (lab
results) and an SNS topic (notices).

Every object key is a random or derived id, never a name or a date of birth; nothing from a
message body is logged.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field

from opsfn import Context, EventBridgeEvent, Router, ScheduleEvent, SnsMessage, setting
from opsfn.access import allow, bucket, objects
from opsfn.errors import NotFound
from opsfn.services import aws

from clinic_app.settings import ClinicSettings

router = Router()

TRIAGE = "triage/"
_ID = r"^[0-9a-f]{32}$"


def _bucket() -> str:
    return ClinicSettings.current().required("CLINIC_REFERRALS_BUCKET")


def _put(key: str, body: dict[str, object]) -> None:
    aws.client("s3").put_object(Bucket=_bucket(), Key=key, Body=json.dumps(body).encode(),
                                ContentType="application/json", ServerSideEncryption="AES256")


class StatusRequest(BaseModel):
    """``{"action": "referral_status", "referralId": ...}``."""

    model_config = ConfigDict(extra="forbid")

    referralId: str = Field(pattern=_ID)  # noqa: N815 - the caller's field name


@router.action("referral_status", description="The triage of one referral, by its id.", access=[
    allow("s3:GetObject", on=objects("CLINIC_REFERRALS_BUCKET", TRIAGE)),
    allow("s3:ListBucket", on=bucket("CLINIC_REFERRALS_BUCKET"),
          why="a referral not triaged yet is a 404, not a 403"),
])
def referral_status(request: StatusRequest) -> dict[str, object]:
    """The triage result, or NotFound while the referral has none."""
    s3 = aws.client("s3")
    try:
        body = s3.get_object(Bucket=_bucket(), Key=f"{TRIAGE}{request.referralId}.json")["Body"]
    except s3.exceptions.NoSuchKey:
        raise NotFound("no triage for this referral yet") from None
    found: dict[str, object] = json.loads(body.read())
    return found


@router.schedule("referral-digest", expression="rate(1 day)", access=[
    allow("s3:ListBucket", on=bucket("CLINIC_REFERRALS_BUCKET")),
    allow("s3:PutObject", on=objects("CLINIC_REFERRALS_BUCKET", "digest/")),
])
def referral_digest(event: ScheduleEvent, context: Context) -> dict[str, object]:
    """Count the triaged referrals into ``digest/<run id>.json`` (a count, never a referral)."""
    pages = aws.client("s3").get_paginator("list_objects_v2").paginate(
        Bucket=_bucket(), Prefix=TRIAGE)
    triaged = sum(len(page.get("Contents", [])) for page in pages)
    run = uuid.uuid5(uuid.NAMESPACE_URL, event.id or "manual").hex  # one digest per firing
    digest = {"triaged": triaged, "at": datetime.now(UTC).isoformat(timespec="seconds")}
    _put(f"digest/{run}.json", digest)
    context.logger.info("digest written", extra={"triaged": triaged})
    return digest


class AppointmentBooked(BaseModel):
    """The booking system's event detail: which referral got which slot."""

    referralId: str = Field(pattern=_ID)  # noqa: N815 - the booking system's field name
    slot: datetime


@router.eventbridge(source="clinic.booking", detail_type="Appointment Booked", access=[
    allow("s3:PutObject", on=objects("CLINIC_REFERRALS_BUCKET", "appointments/")),
])
def appointment_booked(detail: AppointmentBooked, event: EventBridgeEvent) -> dict[str, str]:
    """Record the slot beside the referral (one object per referral: a rebooking replaces it)."""
    _put(f"appointments/{detail.referralId}.json",
         {"referralId": detail.referralId, "slot": detail.slot.isoformat()})
    return {"referralId": detail.referralId}


class LabResult(BaseModel):
    """A lab result as the laboratory's system queues it."""

    model_config = ConfigDict(extra="forbid")

    referralId: str = Field(pattern=_ID)  # noqa: N815 - the laboratory's field name
    test: str = Field(min_length=1, max_length=64)
    outcome: str = Field(min_length=1, max_length=2000)


@router.sqs(queue=setting("CLINIC_LAB_RESULTS_QUEUE"), access=[
    allow("s3:PutObject", on=objects("CLINIC_REFERRALS_BUCKET", "labs/")),
])
def lab_result(result: LabResult) -> dict[str, str]:
    """Store one lab result under a random key; a malformed message fails alone."""
    key = f"labs/{uuid.uuid4().hex}.json"
    _put(key, result.model_dump())
    return {"key": key}


@router.sns(topic=setting("CLINIC_NOTICES_TOPIC"))
def notice(message: SnsMessage, context: Context) -> dict[str, int]:
    """A notice to the clinic's staff: counted in the log, its text never written there."""
    size = len(message.message)
    context.logger.info("notice received", extra={"bytes": size})
    return {"bytes": size}
