"""Property tests: arbitrary JSON and mutated real events only ever give replies or OpsfnErrors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opsfn import testing as t
from opsfn.core.dispatch import custom_resource as cr_dispatch
from opsfn.errors import OpsfnError
from opsfn.events import HTTP_KINDS, detect
from opsfn.handler import app

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(
    max_size=40)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12),
                                                                      children, max_size=4),
    max_leaves=20,
)
odd_values = st.sampled_from([
    None, "", "\x00", "\u202e\u0645\u0631\u062d\u0628\u0627", "\U0001d552\U0001d553\U0001d554",
    "x" * 70_000, [], {}, 0, -1,
    2**70, 1e308, True, "{}", "null", "[]", '{"Records": []}', "../../etc/passwd", "%ZZ%00",
])

BASE_EVENTS: list[dict[str, Any]] = [
    t.http_v1_event("POST", "/request-upload", body={"fileName": "a.dcm", "fileType": "x"}),
    t.http_v2_event("GET", "/health"),
    t.function_url_event("GET", "/get-results", query={"jobId": "x"}),
    t.alb_event("POST", "/database/start", multi_value=True, body={}),
    t.s3_event("bucket", ["uploads/a", "b"]),
    t.s3_eventbridge_event("bucket", "uploads/k"),
    t.sqs_event([{"action": "health"}, t.s3_event("b", "k"), t.sns_envelope(t.s3_event("b", "k"))]),
    t.sns_event([{"x": 1}, t.s3_event("b", "k")]),
    t.schedule_event("database-auto-stop"),
    t.schedule_event("rotate-ssl-materials", scheduler=True),
    t.eventbridge_event("aws.glue", "Glue Job State Change", {"state": "FAILED"}),
    t.custom_resource_event("Create", "Custom::SslMaterials", {"x": 1},
                            response_url="http://127.0.0.1:9/cfn"),
    {"action": "health"},
    {"action": "export_status", "taskId": None},
]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _paths(child, (*prefix, index))


def _mutate(event: dict[str, Any], path: tuple[Any, ...], new: Any, drop: bool) -> Any:
    if not path:
        return new
    copy = json.loads(json.dumps(event))
    parent = copy
    for part in path[:-1]:
        parent = parent[part]
    if drop and isinstance(parent, dict):
        parent.pop(path[-1], None)
    else:
        parent[path[-1]] = new
    return copy


@st.composite
def mutated_events(draw: st.DrawFn) -> Any:
    event = draw(st.sampled_from(BASE_EVENTS))
    for _ in range(draw(st.integers(1, 3))):
        if not isinstance(event, dict):
            break
        paths = list(_paths(event))
        path = draw(st.sampled_from(paths))
        new = draw(odd_values | json_values)
        event = _mutate(event, path, new, draw(st.booleans()))
    if draw(st.integers(0, 5)) == 0:  # wrap it once more, the way queues and topics do
        event = t.sqs_event([event]) if draw(st.booleans()) else t.sns_event(event)
    return event


@pytest.fixture(autouse=True)
def _no_network_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Mutated ResponseURLs must never be contacted; record the answer instead."""
    monkeypatch.setattr(cr_dispatch, "send_response",
                        lambda url, body, **kw: (False, "not sent in fuzzing"))


@pytest.fixture(autouse=True)
def _moto(moto_aws: None) -> None:
    """Routes that are reached talk to moto, never to AWS."""


def _check(event: Any) -> None:
    try:
        reply = app(event, t.FakeLambdaContext(20_000))
    except OpsfnError as error:
        assert "Traceback" not in error.message
        assert error.__cause__ is None
        return
    try:
        kind = detect(event).kind
    except OpsfnError:  # pragma: no cover - app() would have raised
        pytest.fail("app accepted an event that detect() rejects")
    json.dumps(reply)
    if kind in HTTP_KINDS:
        assert isinstance(reply["statusCode"], int)
        assert "Traceback" not in reply["body"]
        assert "File \"" not in reply["body"]


FUZZ = settings(max_examples=300, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@FUZZ
@given(json_values)
def test_arbitrary_json(event: Any) -> None:
    _check(event)


@FUZZ
@given(mutated_events())
def test_mutated_real_events(event: Any) -> None:
    _check(event)


@FUZZ
@given(st.dictionaries(st.sampled_from(["Records", "requestContext", "action", "RequestType",
                                        "ResponseURL", "detail-type", "source", "detail",
                                        "version", "rawPath", "httpMethod", "resource", "path",
                                        "Event", "Bucket", "ResourceType"]),
                       odd_values | json_values, max_size=8))
def test_key_soup(event: dict[str, Any]) -> None:
    _check(event)
