"""A small app with a route of every source, shared by the core tests."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from opsfn import (
    App,
    Context,
    CustomResourceRequest,
    CustomResourceResult,
    EventBridgeEvent,
    HttpRequest,
    Response,
    Router,
    S3Object,
    ScheduleEvent,
    SnsMessage,
    SqsMessage,
    setting,
)
from opsfn.errors import Conflict, InvalidContent


class Item(BaseModel):
    """An HTTP body / action payload."""

    name: str = Field(min_length=1, max_length=50)
    count: int = 1
    tags: list[str] = []


class Props(BaseModel):
    """Custom resource properties."""

    Name: str
    Size: int = 1
    Fail: bool = False


class Detail(BaseModel):
    """An EventBridge detail."""

    state: str


def build(calls: list[tuple[str, Any]]) -> App:
    """An app whose routes append (route, input) to ``calls``."""
    router = Router(auth="public")

    @router.get("/items")
    def list_items(limit: int = 10) -> dict[str, Any]:
        calls.append(("list_items", limit))
        return {"items": [], "limit": limit}

    @router.post("/items")
    def create_item(item: Item, context: Context) -> Response:
        calls.append(("create_item", item.name))
        return Response(status=201, body=item)

    @router.get("/items/{item_id}")
    def get_item(item_id: int, request: HttpRequest) -> dict[str, Any]:
        calls.append(("get_item", item_id))
        return {"id": item_id, "method": request.method}

    @router.delete("/items/{item_id}")
    def delete_item(item_id: int) -> None:
        calls.append(("delete_item", item_id))

    @router.get("/files/{path+}")
    def get_file(path: str) -> dict[str, str]:
        return {"path": path}

    @router.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret internal detail: patient Jane Doe")

    @router.get("/busy")
    def busy() -> None:
        raise Conflict("already running")

    @router.action("echo")
    def echo(item: Item) -> Item:
        calls.append(("echo", item.name))
        return item

    @router.action("queued_echo", queue=True)
    def queued_echo(item: Item, message: SqsMessage | None = None) -> dict[str, str]:
        calls.append(("queued_echo", item.name))
        return {"name": item.name}

    @router.action("explode")
    def explode() -> None:
        raise KeyError("secret-key-material")

    @router.action("bad_content")
    def bad_content() -> None:
        raise InvalidContent("not an image")

    @router.s3(bucket="literal-bucket", prefix="in/", suffix=".json")
    def s3_literal(obj: S3Object) -> None:
        calls.append(("s3_literal", obj.key))

    @router.s3(bucket=setting("TEST_BUCKET"), prefix="uploads/")
    def s3_setting(obj: S3Object, context: Context) -> None:
        if obj.key.endswith("fail"):
            raise InvalidContent("bad object")
        calls.append(("s3_setting", (obj.key, obj.via)))

    @router.schedule("nightly", expression="rate(1 day)")
    def nightly(event: ScheduleEvent) -> dict[str, str]:
        calls.append(("nightly", event.name))
        return {"ran": event.name}

    @router.eventbridge(source="aws.glue", detail_type="Glue Job State Change")
    def glue(detail: Detail, event: EventBridgeEvent) -> None:
        calls.append(("glue", detail.state))

    @router.custom_resource("Custom::Thing")
    def thing(props: Props, request: CustomResourceRequest) -> CustomResourceResult:
        calls.append(("thing", request.request_type))
        if props.Fail:
            raise InvalidContent("asked to fail")
        return CustomResourceResult(physical_resource_id=f"thing-{props.Name}",
                                    data={"Size": props.Size}, no_echo=props.Size > 100)

    @router.sqs(queue=setting("TEST_WORK_QUEUE"))
    def work(item: Item, message: SqsMessage) -> None:
        if item.name == "fail":
            raise InvalidContent("cannot do it")
        calls.append(("work", item.name))

    @router.sns(topic="alerts")
    def alerts(message: SnsMessage, payload: dict[str, Any]) -> None:
        calls.append(("alerts", payload))

    return App([router])
