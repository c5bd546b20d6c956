"""The application of the second local stack: a route of each non-HTTP trigger the local stack
delivers (S3 direct and through EventBridge, SNS, batched SQS), callers of every kind, a custom
resource and an action that fails the way the platform retries."""

from __future__ import annotations

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
    setting,
)
from opsfn.core.settings import SettingsSection, env_field, register_section
from opsfn.errors import Conflict

router = Router()


@register_section
class TriggerSettings(SettingsSection):
    """Where the test routes' resources are."""

    drop_bucket: str | None = env_field("DROP_BUCKET", "Bucket of the S3 routes.")
    news_topic: str | None = env_field("NEWS_TOPIC", "Topic of the SNS route.")
    work_queue: str | None = env_field("WORK_QUEUE", "Queue of the SQS route.")


class Work(BaseModel):
    name: str
    fail: bool = False


class Marker(BaseModel):
    Label: str


@router.get("/open", auth="public")
def open_route(context: Context) -> dict[str, object]:
    return {"caller": context.caller}


@router.get("/whoami", auth="jwt")
def whoami(context: Context, request: HttpRequest) -> dict[str, object]:
    return {"caller": context.caller}


@router.get("/whoami-iam", auth="iam")
def whoami_iam(context: Context) -> dict[str, object]:
    return {"caller": context.caller}


@router.s3(bucket=setting("DROP_BUCKET"), prefix="direct/")
def dropped_direct(obj: S3Object, context: Context) -> dict[str, object]:
    return {"via": obj.via, "size": obj.size}


@router.s3(bucket=setting("DROP_BUCKET"), prefix="bridged/")
def dropped_bridged(obj: S3Object, context: Context) -> dict[str, object]:
    return {"via": obj.via, "size": obj.size}


@router.sns(topic=setting("NEWS_TOPIC"))
def news(message: SnsMessage, payload: dict[str, object]) -> None:
    if payload.get("fail"):
        raise Conflict("news could not be handled now")


@router.sqs(queue=setting("WORK_QUEUE"))
def work(item: Work, message: SqsMessage) -> None:
    if item.fail:
        raise Conflict("not now")  # not permanent: the message stays on the queue


@router.custom_resource("Custom::Marker")
def marker(props: Marker) -> CustomResourceResult:
    return CustomResourceResult(physical_resource_id=f"marker-{props.Label}",
                                data={"Label": props.Label})


@router.action("flaky")
def flaky() -> None:
    raise Conflict("busy")


app = App([builtin("health"), router])
