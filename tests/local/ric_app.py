"""The application the awslambdaric tests run in their own process: one route of each kind, each
logging one INFO and one WARNING line whose message names it (so a test can count them), with
typed failures on demand. It needs only opsfn and pydantic: the light code tree holds nothing
else."""

from __future__ import annotations

import os
import time
from typing import Any

from pydantic import BaseModel

from opsfn import (
    App,
    Context,
    CustomResourceResult,
    HttpRequest,
    Router,
    S3Object,
    SnsMessage,
    SqsMessage,
    builtin,
)
from opsfn.errors import Conflict, NotFound
from opsfn.events.eventbridge import ScheduleEvent
from opsfn.events.ses import SesMessage

router = Router()
BUCKET = "ric-bucket"
QUEUE = "ric-queue"
TOPIC = "ric-topic"
SCHEDULE = "ric-tick"


def _say(context: Context, what: str) -> None:
    context.logger.info(f"ric {what} ran")
    context.logger.warning(f"ric {what} warned")
    context.logger.debug(f"ric {what} debug")


class Echo(BaseModel):
    word: str
    fail: str | None = None  # "conflict", "missing" or "crash"


class Nap(BaseModel):
    seconds: float


class Marker(BaseModel):
    Label: str


@router.action("ric_echo")
def echo(item: Echo, context: Context) -> dict[str, Any]:
    _say(context, "action")
    if item.fail == "conflict":
        raise Conflict("busy now")
    if item.fail == "missing":
        raise NotFound("no such word")
    if item.fail == "crash":
        raise KeyError("secret-value-never-shown")
    lambda_context = context.lambda_context
    return {"word": item.word, "memory": getattr(lambda_context, "memory_limit_in_mb", None),
            "function": getattr(lambda_context, "function_name", None),
            "request_id": context.request_id, "pid": os.getpid(),
            "setting": os.environ.get("RIC_SETTING")}


@router.action("ric_nap")
def nap(item: Nap, context: Context) -> dict[str, Any]:
    _say(context, "nap")
    time.sleep(item.seconds)
    return {"slept": item.seconds, "pid": os.getpid()}


@router.get("/ric/hello", auth="public")
def hello(request: HttpRequest, context: Context) -> dict[str, Any]:
    _say(context, "http")
    return {"hello": request.query.get("name", "world")}


@router.s3(bucket=BUCKET, prefix="in/")
def landed(obj: S3Object, context: Context) -> None:
    _say(context, "s3")
    if obj.key.endswith(".bad"):
        raise Conflict("cannot take it now")


@router.sqs(queue=QUEUE)
def work(item: Echo, message: SqsMessage, context: Context) -> None:
    _say(context, "sqs")
    if item.fail:
        raise Conflict("not now")


@router.sns(topic=TOPIC)
def news(message: SnsMessage, payload: dict[str, Any], context: Context) -> None:
    _say(context, "sns")


@router.schedule(SCHEDULE, expression="rate(1 hour)")
def tick(event: ScheduleEvent, context: Context) -> dict[str, Any]:
    _say(context, "schedule")
    return {"schedule": event.name}


@router.custom_resource("Custom::RicMarker")
def marker(props: Marker, context: Context) -> CustomResourceResult:
    _say(context, "custom resource")
    return CustomResourceResult(physical_resource_id=f"marker-{props.Label}",
                                data={"Label": props.Label})


@router.ses()
def mail(message: SesMessage, context: Context) -> dict[str, Any]:
    _say(context, "ses")
    return {"seen": message.message_id}


app = App([builtin("health"), router])
