"""CORS answered by the function for every HTTP source, and the template agreeing with it.

The original page lives on another origin (S3/CloudFront) and its first call is a preflight, so
every source shape (HTTP API v2, REST v1, Function URL, ALB with single or multi-value headers)
must get the same answers: 204 with the path's methods from the registry, the headers browsers
send, a max age, and Access-Control-Allow-Origin on that and every other reply.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from opsfn import testing as t
from opsfn.core.app import App
from opsfn.core.cors import ALLOW_HEADERS
from opsfn.handler import app as handler_app
from opsfn.routes.imaging import router
from opsfn.testing import Client, HttpReply
from opsfn.tooling.ops_rules import Checker

PAGE = "https://images.example.org"
OTHER = "https://ops.example.net"
SHAPES = ["http_v2", "http_v1", "function_url", "alb", "alb_multi"]


def _event(shape: str, method: str, path: str, headers: dict[str, str],
           query: dict[str, str] | None = None, body: Any = None) -> dict[str, Any]:
    if shape == "http_v1":
        return t.http_v1_event(method, path, headers=headers, query=query, body=body)
    if shape == "function_url":
        return t.function_url_event(method, path, headers=headers, query=query, body=body)
    if shape in ("alb", "alb_multi"):
        return t.alb_event(method, path, headers=headers, query=query, body=body,
                           multi_value=shape == "alb_multi")
    return t.http_v2_event(method, path, headers=headers, query=query, body=body)


def _send(client: Client, shape: str, method: str, path: str, headers: dict[str, str],
          **kwargs: Any) -> HttpReply:
    reply = t.parse_http_reply(client.handle(_event(shape, method, path, headers, **kwargs)))
    reply.headers = {k.lower(): v for k, v in reply.headers.items()}
    return reply


def _preflight(client: Client, shape: str, path: str, origin: str = PAGE,
               method: str = "POST") -> HttpReply:
    return _send(client, shape, "OPTIONS", path, {
        "Origin": origin, "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "content-type"})


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Client:
    monkeypatch.setenv("OPSFN_CORS_ORIGIN", PAGE)
    return Client(App([router]))


@pytest.mark.parametrize("shape", SHAPES)
def test_preflight_to_each_declared_path(client: Client, shape: str) -> None:
    for path, methods in (("/request-upload", "POST, OPTIONS"), ("/get-results", "GET, OPTIONS")):
        reply = _preflight(client, shape, path)
        assert reply.status == 204, (shape, path, reply.text)
        assert reply.body == b""
        assert reply.headers["access-control-allow-origin"] == PAGE
        assert reply.headers["access-control-allow-methods"] == methods
        assert reply.headers["access-control-allow-headers"] == \
            "content-type, authorization, x-amz-date, x-amz-security-token, x-api-key"
        assert reply.headers["access-control-max-age"] == "600"


@pytest.mark.parametrize("shape", SHAPES)
def test_every_reply_carries_the_origin(resources: None, client: Client, shape: str) -> None:
    created = _send(client, shape, "POST", "/request-upload", {"Origin": PAGE},
                    body={"fileName": "a.png", "fileType": "image/png"})
    assert created.status == 200, created.text
    job_id = created.json()["jobId"]
    replies = [
        created,
        _send(client, shape, "GET", "/get-results", {"Origin": PAGE}, query={"jobId": job_id}),
        _send(client, shape, "GET", "/get-results", {"Origin": PAGE}),  # 400
        _send(client, shape, "GET", "/nowhere", {"Origin": PAGE}),  # 404
        _send(client, shape, "DELETE", "/get-results", {"Origin": PAGE}),  # 405
        _preflight(client, shape, "/nowhere"),  # undeclared path: 404, still with the origin
    ]
    assert [r.status for r in replies] == [200, 200, 400, 404, 405, 404]
    for reply in replies:
        assert reply.headers["access-control-allow-origin"] == PAGE, reply.status


def test_options_without_request_method_is_no_preflight(client: Client) -> None:
    reply = _send(client, "http_v2", "OPTIONS", "/request-upload", {"Origin": PAGE})
    assert reply.status == 405
    assert reply.headers["allow"] == "POST"


@pytest.mark.parametrize("shape", SHAPES)
def test_listed_origins_are_echoed(monkeypatch: pytest.MonkeyPatch, shape: str) -> None:
    monkeypatch.setenv("OPSFN_CORS_ORIGIN", f"{PAGE}, {OTHER}/")
    monkeypatch.setenv("OPSFN_CORS_MAX_AGE", "120")
    client = Client(App([router]))
    for origin in (PAGE, OTHER):
        reply = _preflight(client, shape, "/get-results", origin=origin, method="GET")
        assert reply.status == 204
        assert reply.headers["access-control-allow-origin"] == origin
        assert reply.headers["vary"] == "Origin"
        assert reply.headers["access-control-max-age"] == "120"
    stranger = _preflight(client, shape, "/get-results", origin="https://evil.example")
    # not echoed: the first listed origin, which the browser will not match
    assert stranger.headers["access-control-allow-origin"] == PAGE
    reply = _send(client, shape, "GET", "/get-results", {"Origin": OTHER})
    assert reply.status == 400 and reply.headers["access-control-allow-origin"] == OTHER


def test_any_origin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSFN_CORS_ORIGIN", "*")
    reply = _preflight(Client(App([router])), "http_v1", "/request-upload")
    assert reply.headers["access-control-allow-origin"] == "*"
    assert "vary" not in reply.headers


def test_without_the_setting_no_origin_is_allowed() -> None:
    client = Client(App([router]))
    reply = _preflight(client, "http_v2", "/request-upload")
    assert reply.status == 204  # answered, but no browser will take it
    assert "access-control-allow-origin" not in reply.headers
    assert "access-control-allow-origin" not in _send(client, "http_v2", "GET", "/nowhere",
                                                      {}).headers


def test_preflight_is_answered_before_the_route_runs(client: Client,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """No route (and so no authentication) sees a preflight: browsers send no credentials."""
    from opsfn.core import route_call

    def never(*_: Any, **__: Any) -> Any:
        raise AssertionError("a route ran for a preflight")

    monkeypatch.setattr("opsfn.core.dispatch.http.run_route", never)
    monkeypatch.setattr(route_call, "run_route", never)
    assert _preflight(client, "http_v2", "/request-upload").status == 204


def test_whole_handler_answers_the_template_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSFN_CORS_ORIGIN", PAGE)
    client = Client(handler_app)
    for route in handler_app.registry.routes:
        if route.source == "http":
            method, path = route.label.split(" ", 1)
            reply = _preflight(client, "http_v2", path, method=method)
            assert reply.status == 204 and method in reply.headers["access-control-allow-methods"]


# -- the template agrees with the function ------------------------------------------------------
def test_template_cors_agrees_with_the_function(template: dict[str, Any]) -> None:
    assert [p for p in Checker(handler_app, template).run() if "CORS" in p] == []
    api = template["Resources"]["HttpApi"]["Properties"]["CorsConfiguration"]
    assert api["AllowHeaders"] == list(ALLOW_HEADERS)
    env = template["Resources"]["OpsFunction"]["Properties"]["Environment"]["Variables"]
    assert env["OPSFN_CORS_ORIGIN"] == {"Ref": "AllowedOrigin"}
    rule = template["Resources"]["UploadBucket"]["Properties"]["CorsConfiguration"]["CorsRules"][0]
    assert {"PUT", "POST"} <= set(rule["AllowedMethods"])


@pytest.mark.parametrize(("change", "expected"), [
    (lambda api, env, bucket: api.update(AllowHeaders=["content-type"]), "AllowHeaders"),
    (lambda api, env, bucket: api.update(AllowMethods=["GET", "OPTIONS"]), "lacks ['POST']"),
    (lambda api, env, bucket: api.update(MaxAge=60), "MaxAge"),
    (lambda api, env, bucket: api.update(AllowOrigins=["https://a.example"]), "AllowOrigins"),
    (lambda api, env, bucket: env.update(OPSFN_CORS_ORIGIN="https://a.example"), "AllowOrigins"),
    (lambda api, env, bucket: env.pop("OPSFN_CORS_ORIGIN"), "OPSFN_CORS_ORIGIN is not set"),
    (lambda api, env, bucket: bucket.update(AllowedMethods=["GET", "POST"]), "PUT and POST"),
    (lambda api, env, bucket: bucket.update(AllowedOrigins=["*"]), "PUT and POST"),
], ids=["headers", "methods", "max-age", "api-origin", "function-origin", "function-unset",
        "bucket-methods", "bucket-origins"])
def test_drift_check_reports_cors_disagreement(template: dict[str, Any], change: Any,
                                               expected: str) -> None:
    broken = copy.deepcopy(template)
    resources = broken["Resources"]
    api = resources["HttpApi"]["Properties"]["CorsConfiguration"]
    env = resources["OpsFunction"]["Properties"]["Environment"]["Variables"]
    bucket = resources["UploadBucket"]["Properties"]["CorsConfiguration"]["CorsRules"][0]
    change(api, env, bucket)
    problems = Checker(handler_app, broken).run()
    assert any(expected in p for p in problems), problems


def test_drift_check_reads_function_url_cors(template: dict[str, Any]) -> None:
    broken = copy.deepcopy(template)
    broken["Resources"]["OpsFunction"]["Properties"]["FunctionUrlConfig"] = {
        "AuthType": "NONE", "Cors": {"AllowOrigins": ["*"], "AllowMethods": ["*"],
                                     "AllowHeaders": list(ALLOW_HEADERS), "MaxAge": 600}}
    problems = Checker(handler_app, broken).run()
    assert any("FunctionUrlConfig CORS: AllowOrigins" in p for p in problems), problems
