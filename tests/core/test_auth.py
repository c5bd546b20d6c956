"""Who may call what: routes declare their auth, the function checks it, the template agrees."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from opsfn import testing as t
from opsfn.core.app import App
from opsfn.core.auth import Caller, authorize, caller_of
from opsfn.core.invocation import Context
from opsfn.core.router import HttpSpec, Route, Router
from opsfn.errors import Unauthorized
from opsfn.handler import app as real_app
from opsfn.tooling.ops_rules import Checker
from opsfn.tooling.template_reader import load_template
from tests.conftest import TEMPLATE

SHAPES = ("http_v1", "http_v2", "function_url", "alb")
PUBLIC = {"GET /health", "POST /request-upload", "GET /get-results"}


def _http_routes() -> list[Route]:
    return [r for r in real_app.registry.routes if isinstance(r.spec, HttpSpec)]


def _recording(routes: list[Route]) -> tuple[App, list[tuple[str, str | None]]]:
    """The real HTTP routes, each replaced by a recorder of the caller it saw."""
    seen: list[tuple[str, str | None]] = []
    app = App()
    for route in routes:
        app._add(Route(route.source, route.spec, _with_context(route.label, seen)))
    return app, seen


def _with_context(label: str, seen: list[tuple[str, str | None]]) -> Any:
    def recorder(context: Context) -> dict[str, Any]:
        seen.append((label, context.caller))
        return {"ok": True}

    return recorder


def _event(shape: str, method: str, path: str, auth: str | None) -> dict[str, Any]:
    body = {} if method == "POST" else None
    if shape == "http_v1":
        return t.http_v1_event(method, path, body=body, auth=auth)
    if shape == "function_url":
        return t.function_url_event(method, path, body=body, auth=auth)
    if shape == "alb":
        return t.alb_event(method, path, body=body)
    return t.http_v2_event(method, path, body=body, auth=auth)


def _status(reply: dict[str, Any]) -> int:
    return int(reply["statusCode"])


def test_the_builtin_routes_declare_what_the_issue_asks() -> None:
    declared = {r.label: r.spec.auth for r in _http_routes() if isinstance(r.spec, HttpSpec)}
    assert {label for label, auth in declared.items() if auth == "public"} == PUBLIC
    assert all(declared[label] != "public" for label in declared if label.startswith(
        ("GET /database", "POST /database")))
    assert {label for label in declared if "/database/" in label} == {
        "POST /database/start", "GET /database/status", "POST /database/activity"}


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("auth", [None, "iam", "jwt"])
def test_every_builtin_http_route_with_and_without_a_caller(shape: str, auth: str | None,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPSFN_DEFAULT_AUTH", raising=False)
    if shape == "alb" and auth is not None:
        pytest.skip("an ALB passes no authorizer context")
    app, seen = _recording(_http_routes())
    for route in _http_routes():
        assert isinstance(route.spec, HttpSpec)
        seen.clear()
        reply = app(_event(shape, route.spec.method, route.spec.path, auth), t.FakeLambdaContext())
        if route.label in PUBLIC:
            assert _status(reply) == 200 and seen and seen[0][0] == route.label, route.label
        elif auth is None:
            assert _status(reply) == 401, (shape, route.label)
            assert json.loads(reply["body"]) == {"error": "unauthorized",
                                                 "message": "unauthorized"}
            assert seen == []  # refused before any work
        else:
            assert _status(reply) == 200, (shape, route.label)
            assert seen[0][1] == t.DEFAULT_CALLERS[auth]  # the route sees who called


@pytest.mark.parametrize("shape", ["http_v1", "http_v2", "function_url"])
def test_the_default_authorizer_admits_only_its_kind(shape: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSFN_DEFAULT_AUTH", "iam")
    app, seen = _recording(_http_routes())
    assert _status(app(_event(shape, "GET", "/database/status", "iam"),
                       t.FakeLambdaContext())) == 200
    assert _status(app(_event(shape, "GET", "/database/status", "jwt"),
                       t.FakeLambdaContext())) == 401
    assert [label for label, _ in seen] == ["GET /database/status"]


def test_explicit_kinds_are_enforced() -> None:
    router = Router()

    @router.get("/signed", auth="iam")
    def signed() -> dict[str, str]:
        return {"ok": "iam"}

    @router.get("/token", auth="jwt")
    def token() -> dict[str, str]:
        return {"ok": "jwt"}

    client = t.Client(App([router]))
    assert client.get("/signed", auth="iam").status == 200
    assert client.get("/signed", auth="jwt").status == 401
    assert client.get("/token", auth="jwt").status == 200
    assert client.get("/token", auth="iam").status == 401
    assert client.get("/token").status == 401


def test_a_route_without_auth_on_a_router_without_a_default_is_refused_at_import() -> None:
    router = Router()
    with pytest.raises(ValueError, match="declares no auth"):
        @router.post("/open-by-accident")
        def handler() -> None:
            return None
    assert router.routes == []
    assert Router(auth="iam").get("/fine")(lambda: None) is not None
    with pytest.raises(ValueError, match="auth must be one of"):
        Router(auth="everyone")  # type: ignore[arg-type]


def test_caller_identity_per_source() -> None:
    arn = "arn:aws:iam::123456789012:user/ops"
    assert caller_of("http_v2", t.http_v2_event("GET", "/x", auth="iam", caller=arn)) == \
        Caller("iam", arn)
    assert caller_of("http_v2", t.http_v2_event("GET", "/x", auth="jwt", caller="u1")) == \
        Caller("jwt", "u1")
    assert caller_of("http_v1", t.http_v1_event("GET", "/x", auth="iam", caller=arn)) == \
        Caller("iam", arn)
    assert caller_of("http_v1", t.http_v1_event("GET", "/x", auth="jwt", caller="u2")) == \
        Caller("jwt", "u2")
    assert caller_of("function_url", t.function_url_event("GET", "/x", auth="iam",
                                                          caller=arn)) == Caller("iam", arn)
    # A REST API fills identity with nulls when no IAM authorization applies.
    assert caller_of("http_v1", t.http_v1_event("GET", "/x")) is None
    assert caller_of("alb", t.alb_event("GET", "/x")) is None
    # Claims without a subject are not an identity.
    event = t.http_v2_event("GET", "/x")
    event["requestContext"]["authorizer"] = {"jwt": {"claims": {"scope": "x"}}}
    assert caller_of("http_v2", event) is None
    with pytest.raises(Unauthorized):
        authorize("jwt", "http_v2", event, None)


def test_the_refusal_is_logged_without_the_reason_in_the_reply(
        caplog: pytest.LogCaptureFixture) -> None:
    reply = t.Client(real_app).post("/database/start", shape="http_v2")
    assert reply.status == 401 and reply.json() == {"error": "unauthorized",
                                                  "message": "unauthorized"}
    refused = [r for r in caplog.records if r.getMessage() == "unauthorized request refused"]
    assert refused and getattr(refused[0], "route", None) == "POST /database/start"


# -- the template agrees with the declarations ----------------------------------------------------
def _problems(mutate: Any) -> list[str]:
    template = copy.deepcopy(load_template(TEMPLATE))
    mutate(template["Resources"])
    return Checker(real_app, template).run()


def _events(resources: dict[str, Any]) -> dict[str, Any]:
    return resources["OpsFunction"]["Properties"]["Events"]


def test_the_shipped_template_gives_every_route_its_declared_authorizer() -> None:
    assert _problems(lambda resources: None) == []


def test_every_http_event_carries_the_authorizer_its_route_declares() -> None:
    """The events are generated from the declarations: public is NONE, iam AWS_IAM, jwt the JWT
    authorizer, and default names none (the API's DefaultAuthorizer answers)."""
    events = _events(load_template(TEMPLATE)["Resources"])
    wanted = {"public": {"Authorizer": "NONE"}, "iam": {"Authorizer": "AWS_IAM"},
              "jwt": {"Authorizer": "JwtAuthorizer"}, "default": None}
    http = [r for r in real_app.registry.routes if r.source == "http"]
    assert len(http) == 6
    for route in http:
        (event,) = [e["Properties"] for e in events.values() if e["Type"] == "HttpApi"
                    and (e["Properties"]["Method"], e["Properties"]["Path"]) == (
                        route.spec.method, route.spec.path)]  # type: ignore[union-attr]
        assert event.get("Auth") == wanted[route.spec.auth], route.label  # type: ignore[union-attr]


def test_an_api_without_its_default_authorizer_is_refused() -> None:
    problems = _problems(lambda r: r["HttpApi"]["Properties"]["Auth"].pop("DefaultAuthorizer"))
    assert sum("admits public but the function's OPSFN_DEFAULT_AUTH is 'iam'" in p
               for p in problems) == 3


def test_the_in_function_default_must_match_the_api_default() -> None:
    def switch(resources: dict[str, Any]) -> None:
        resources["HttpApi"]["Properties"]["Auth"]["DefaultAuthorizer"] = "JwtAuthorizer"

    problems = _problems(switch)
    assert sum("admits jwt but the function's OPSFN_DEFAULT_AUTH is 'iam'" in p
               for p in problems) == 3


def test_an_unsigned_function_url_is_refused() -> None:
    problems = _problems(lambda r: r["OpsFunctionUrl"]["Properties"].update(AuthType="NONE"))
    assert any("function URL OpsFunctionUrl" in p and "AWS_IAM" in p for p in problems)
