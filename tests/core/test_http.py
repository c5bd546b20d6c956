"""HTTP dispatch: every source's reply format, validation paths, 404/405/413, no leaks."""

from __future__ import annotations

import base64
import json
from typing import Annotated, Any

import pytest
from pydantic import Field

from opsfn import testing as t
from opsfn.core.text import Text
from opsfn.testing import Client, parse_http_reply
from tests.core.apps import build

SHAPES = ["http_v1", "http_v2", "function_url", "alb"]


@pytest.fixture
def calls() -> list[tuple[str, Any]]:
    return []


@pytest.fixture
def client(calls: list[tuple[str, Any]]) -> Client:
    return Client(build(calls))


@pytest.mark.parametrize("shape", SHAPES)
def test_post_validates_body_and_returns_status(client: Client, calls: list[Any], shape: str) -> None:
    reply = client.post("/items", json_body={"name": "widget", "count": 2}, shape=shape)
    assert reply.status == 201
    assert reply.json() == {"name": "widget", "count": 2, "tags": []}
    assert reply.headers["content-type"] == "application/json"
    assert calls == [("create_item", "widget")]


@pytest.mark.parametrize("shape", SHAPES)
def test_validation_error_names_field_path_without_values(client: Client, calls: list[Any],
                                                          shape: str) -> None:
    reply = client.post("/items", json_body={"name": "", "count": "many", "tags": [1, {"x": 1}]},
                        shape=shape)
    assert reply.status == 400
    body = reply.json()
    assert body["error"] == "validation_failed"
    locs = {d["loc"] for d in body["details"]}
    assert {"body.name", "body.count", "body.tags.0", "body.tags.1"} <= locs
    assert "many" not in reply.text
    assert calls == []


@pytest.mark.parametrize("shape", SHAPES)
def test_reply_format_per_source(client: Client, shape: str) -> None:
    reply = client.get("/items/7", shape=shape)
    raw = reply.raw
    assert reply.status == 200
    assert reply.json() == {"id": 7, "method": "GET"}
    assert raw["isBase64Encoded"] is False
    if shape == "alb":
        assert raw["statusDescription"] == "200 OK"
    else:
        assert "statusDescription" not in raw


def test_alb_multi_value_headers_are_mirrored(client: Client) -> None:
    event = t.alb_event("GET", "/items/3", multi_value=True)
    raw = client.handle(event)
    assert "multiValueHeaders" in raw and "headers" not in raw
    assert raw["multiValueHeaders"]["content-type"] == ["application/json"]


def test_alb_query_strings_are_decoded(client: Client, calls: list[Any]) -> None:
    reply = client.get("/items", query={"limit": "5"}, shape="alb")
    assert reply.json() == {"items": [], "limit": 5}


@pytest.mark.parametrize("shape", SHAPES)
def test_query_parameter_conversion_and_errors(client: Client, shape: str) -> None:
    assert client.get("/items", query={"limit": "3"}, shape=shape).json()["limit"] == 3
    assert client.get("/items", shape=shape).json()["limit"] == 10
    bad = client.get("/items", query={"limit": "lots"}, shape=shape)
    assert bad.status == 400
    assert bad.json()["details"][0]["loc"] == "query.limit"


@pytest.mark.parametrize("shape", SHAPES)
def test_path_parameter_conversion(client: Client, shape: str) -> None:
    bad = client.get("/items/abc", shape=shape)
    assert bad.status == 400
    assert bad.json()["details"][0]["loc"] == "path.item_id"


def test_rest_resource_template_is_used(client: Client) -> None:
    event = t.http_v1_event("GET", "/items/9", resource="/items/{item_id}", path_params={"item_id": "9"})
    reply = parse_http_reply(client.handle(event))
    assert reply.json()["id"] == 9


def test_greedy_path(client: Client) -> None:
    assert client.get("/files/a/b/c.txt").json() == {"path": "a/b/c.txt"}


def test_stage_prefix_is_stripped_for_http_api() -> None:
    calls: list[Any] = []
    client = Client(build(calls))
    event = t.http_v2_event("GET", "/prod/items/4")
    event["requestContext"]["stage"] = "prod"
    assert parse_http_reply(client.handle(event)).json()["id"] == 4


@pytest.mark.parametrize("shape", SHAPES)
def test_not_found_and_method_not_allowed(client: Client, shape: str) -> None:
    missing = client.get("/nothing/here", shape=shape)
    assert missing.status == 404
    assert missing.json()["error"] == "not_found"
    wrong = client.request("PUT", "/items", json_body={"name": "x"}, shape=shape)
    assert wrong.status == 405
    assert wrong.headers["allow"] == "GET, POST"


def test_delete_returns_204(client: Client, calls: list[Any]) -> None:
    reply = client.delete("/items/2")
    assert reply.status == 204
    assert reply.body == b""
    assert calls == [("delete_item", 2)]


@pytest.mark.parametrize("body", ["not json", "{", "[1,2", base64.b64encode(b'{"name":"x"}').decode()])
def test_body_not_json_is_400(client: Client, body: str) -> None:
    reply = client.post("/items", body=body)
    assert reply.status == 400
    assert reply.json()["details"][0]["loc"] == "body"


def test_empty_body_is_400(client: Client) -> None:
    reply = client.post("/items")
    assert reply.status == 400


def test_base64_encoded_json_body_is_decoded(client: Client) -> None:
    event = t.http_v2_event("POST", "/items", body=json.dumps({"name": "b64"}).encode(), binary=True)
    assert parse_http_reply(client.handle(event)).status == 201


def test_invalid_base64_is_400(client: Client) -> None:
    event = t.http_v2_event("POST", "/items", body="!!!not-base64!!!")
    event["isBase64Encoded"] = True
    reply = parse_http_reply(client.handle(event))
    assert reply.status == 400
    assert reply.json()["details"][0]["type"] == "body_encoding"


def test_oversize_body_is_413(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSFN_MAX_BODY_BYTES", "1000")
    reply = client.post("/items", json_body={"name": "x", "tags": ["y" * 2000]})
    assert reply.status == 413
    assert reply.json()["error"] == "payload_too_large"


def test_unexpected_error_is_generic_500(client: Client, log_lines: Any) -> None:
    reply = client.get("/boom")
    assert reply.status == 500
    assert reply.json() == {"error": "internal_error", "message": "internal error"}
    logged = "\n".join(log_lines())
    assert '"error_type":"RuntimeError"' in logged
    assert "apps.py" in logged  # frames are logged for operators
    assert "Jane Doe" not in logged
    assert "Traceback" not in reply.text


def test_typed_error_status(client: Client) -> None:
    reply = client.get("/busy")
    assert reply.status == 409
    assert reply.json()["message"] == "already running"


def test_cors_header_when_configured(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSFN_CORS_ORIGIN", "https://app.example")
    assert client.get("/items").headers["access-control-allow-origin"] == "https://app.example"


def test_action_in_http_body_is_just_a_body(client: Client, calls: list[Any]) -> None:
    reply = client.post("/items", json_body={"action": "explode", "name": "n"})
    assert reply.status == 201
    assert calls == [("create_item", "n")]


def test_head_uses_get_route(client: Client) -> None:
    assert client.request("HEAD", "/items/1").status == 200


def test_annotated_query_constraints_are_validated_and_documented() -> None:
    """An ``Annotated`` parameter's constraints (pydantic's, or opsfn's Text, checked without
    pydantic) are what the binder checks and what ``opsfn openapi`` states, from one
    declaration."""
    from opsfn import App, Router
    from opsfn.tooling.introspect import openapi

    router = Router()

    @router.get("/codes/{code}", auth="public")
    def code(code: Annotated[str, Field(pattern="^[A-Z]{3}")],
             limit: Annotated[int, Field(ge=1, le=5)] = 2) -> dict[str, Any]:
        return {"code": code, "limit": limit}

    @router.get("/tags", auth="public")
    def tags(tag: Annotated[str, Text(pattern="^[a-z]+", max_length=4, format="tag")]
             ) -> dict[str, Any]:
        return {"tag": tag}

    app = App([router])
    client = Client(app)
    assert client.get("/tags", query={"tag": "abcd"}).json() == {"tag": "abcd"}
    for bad, kind in (("ABC", "string_pattern_mismatch"), ("abcde", "string_too_long")):
        details = client.get("/tags", query={"tag": bad}).json()["details"]
        assert [(d["loc"], d["type"]) for d in details] == [("query.tag", kind)]
    assert openapi(app, "0")["paths"]["/tags"]["get"]["parameters"][0]["schema"] == {
        "type": "string", "maxLength": 4, "pattern": "^[a-z]+", "format": "tag"}
    assert client.get("/codes/ABC", query={"limit": "5"}).json() == {"code": "ABC", "limit": 5}
    refused = client.get("/codes/ABC", query={"limit": "6"})
    assert refused.status == 400 and refused.json()["details"][0]["loc"] == "query.limit"
    assert client.get("/codes/abc").json()["details"][0]["loc"] == "path.code"
    parameters = openapi(app, "0")["paths"]["/codes/{code}"]["get"]["parameters"]
    assert parameters == [
        {"name": "code", "in": "path", "required": True,
         "schema": {"type": "string", "pattern": "^[A-Z]{3}"}},
        {"name": "limit", "in": "query", "required": False,
         "schema": {"type": "integer", "minimum": 1, "maximum": 5}},
    ]
