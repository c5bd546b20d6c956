"""Exposure, source by source: what an undeclared source gets back is a proper refusal.

tests/core/test_exposure.py proves no route of the real app runs from a source it does not
declare. This adds what that matrix leaves open: the *form* of each refusal (404/405 with
``Allow`` for every HTTP shape, a typed ``NotFound`` for invoke, a failed record for SQS, one
FAILED answer for a custom resource, a raise for S3, EventBridge and both schedule shapes), and
the aims it does not try: every HTTP shape with GET and POST on the route's own names, handler
import paths and labels as action names, non-action routes and wrapped S3 or SNS events on the
action queue, prefixed schedule names, custom resource Update and Delete.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from opsfn import App
from opsfn import testing as t
from opsfn.core.router import (
    ActionSpec,
    CustomResourceSpec,
    EventBridgeSpec,
    HttpSpec,
    Route,
    S3Spec,
    ScheduleSpec,
    Setting,
)
from opsfn.errors import NotFound, OpsfnError, RecordsFailed
from opsfn.handler import app as real_app

ACTION_QUEUE = "opsfn-actions"
HTTP_SHAPES = ("http_v1", "http_v2", "function_url", "alb")
ROUTES = real_app.registry.routes
ACTION_NAMES = set(real_app.registry.actions)
SCHEDULE_NAMES = set(real_app.registry.schedules)
CR_TYPES = set(real_app.registry.custom_resources)


def aims(route: Route) -> list[str]:
    """Every name an attacker could use to point another source at ``route``."""
    spec = route.spec
    names = [route.label, route.handler_name, route.func.__name__]
    if isinstance(spec, ActionSpec | ScheduleSpec):
        names.append(spec.name)
    elif isinstance(spec, HttpSpec):
        names += [spec.path, spec.path.strip("/"), spec.path.strip("/").replace("/", "-")]
    elif isinstance(spec, CustomResourceSpec):
        names += [spec.resource_type, spec.resource_type.split("::", 1)[1]]
    elif isinstance(spec, EventBridgeSpec):
        names += [spec.source, spec.detail_type or ""]
    elif isinstance(spec, S3Spec):
        names.append(str(spec.bucket))
    return [n for n in dict.fromkeys(names) if n]


def _recording_app() -> tuple[App, dict[int, int]]:
    """The real routes, each replaced by a counter of its calls."""
    calls: dict[int, int] = {}
    app = App()

    def recorder_for(index: int) -> Any:
        def recorder() -> None:
            calls[index] = calls.get(index, 0) + 1

        return recorder

    for index, route in enumerate(ROUTES):
        app._add(Route(route.source, route.spec, recorder_for(index)))
    return app, calls


@pytest.fixture
def recording(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[App, dict[int, int]]]:
    """A recording copy of the real app with its buckets and action queue configured."""
    monkeypatch.setenv("OPSFN_ACTION_QUEUE", ACTION_QUEUE)
    for route in ROUTES:
        if isinstance(route.spec, S3Spec) and isinstance(route.spec.bucket, Setting):
            monkeypatch.setenv(route.spec.bucket.variable,
                               f"bucket-{route.spec.bucket.variable.lower()}")
    yield _recording_app()


def _routes_except(source: str) -> list[tuple[int, Route]]:
    return [(i, r) for i, r in enumerate(ROUTES) if r.source != source]


def _call(app: App, event: dict[str, Any]) -> Any:
    return app(event, t.FakeLambdaContext(10_000))


# -- HTTP -----------------------------------------------------------------------------------------
def _http_event(shape: str, method: str, path: str, body: Any, auth: str | None = None
                ) -> dict[str, Any]:
    factories: dict[str, Callable[..., dict[str, Any]]] = {
        "http_v1": t.http_v1_event, "http_v2": t.http_v2_event,
        "function_url": t.function_url_event, "alb": t.alb_event}
    factory = factories[shape]
    extra = {"auth": auth} if auth is not None else {}
    return factory(method, path, body=body if method == "POST" else None, **extra)


def _needs_caller(method: str, path: str) -> bool:
    found = real_app.registry.http.lookup(path)
    route = found[0].get(method) if found is not None else None
    return route is not None and isinstance(route.spec, HttpSpec) and route.spec.auth != "public"


def _expected_http_status(method: str, path: str) -> int | None:
    """404 or 405 for a path no HTTP route serves that way; None when one does."""
    found = real_app.registry.http.lookup(path)
    if found is None:
        return 404
    methods, _ = found
    return None if method in methods else 405


@pytest.mark.parametrize("shape", HTTP_SHAPES)
def test_http_shapes_refuse_every_other_route_with_404_or_405(
        shape: str, recording: tuple[App, dict[int, int]]) -> None:
    app, calls = recording
    refused = 0
    for index, route in _routes_except("http"):
        for name in aims(route):
            work = {"action": name, "name": name, "ResourceType": name, "detail-type": name}
            for path in (f"/{name.strip('/')}", f"/actions/{name.strip('/')}", "/"):
                for method in ("GET", "POST"):
                    calls.clear()
                    reply = t.parse_http_reply(_call(app, _http_event(shape, method, path, work)))
                    assert index not in calls, f"{route.label} reached by {shape} {method} {path}"
                    expected = _expected_http_status(method, path)
                    if expected is None:
                        continue  # a declared HTTP route answered; it is not the target
                    refused += 1
                    assert reply.status == expected, (shape, method, path, reply.status)
                    error = reply.json()["error"]
                    assert error == ("not_found" if expected == 404 else "method_not_allowed")
                    if expected == 405:
                        assert reply.headers["allow"]
    assert refused >= 4 * len(_routes_except("http"))


@pytest.mark.parametrize("shape", HTTP_SHAPES)
def test_an_action_in_any_http_body_runs_no_action(shape: str,
                                                   recording: tuple[App, dict[int, int]]) -> None:
    """POSTing a direct-invoke payload to every real POST route reaches that route, never the action."""
    app, calls = recording
    actions = {i for i, r in enumerate(ROUTES) if r.source == "action"}
    posts = [r.spec.path for r in ROUTES if isinstance(r.spec, HttpSpec) and r.spec.method == "POST"]
    assert posts
    for path in posts:
        for name in ACTION_NAMES:
            calls.clear()
            signed = _needs_caller("POST", path)
            auth = "iam" if signed and shape != "alb" else None
            reply = t.parse_http_reply(_call(app, _http_event(shape, "POST", path,
                                                              {"action": name}, auth)))
            # An ALB carries no caller: an operator route is refused there before any work.
            assert reply.status == 401 if signed and auth is None else reply.status < 300
            assert not actions & set(calls), f"{name} ran from {shape} POST {path}"


# -- direct invoke --------------------------------------------------------------------------------
def test_invoke_refuses_every_non_action_name_with_not_found(
        recording: tuple[App, dict[int, int]]) -> None:
    app, calls = recording
    tried = 0
    for _index, route in _routes_except("action"):
        for name in aims(route):
            if name in ACTION_NAMES:
                continue  # the health action shares its name with GET /health on purpose
            calls.clear()
            with pytest.raises(NotFound) as caught:
                _call(app, t.invoke_event(name))
            assert caught.value.code == "not_found" and caught.value.permanent
            assert not calls, f"{route.label} reached by invoke {name!r}"
            tried += 1
    assert tried >= 3 * len(_routes_except("action"))


def test_actions_are_found_by_exact_registered_name_only(
        recording: tuple[App, dict[int, int]]) -> None:
    """Import paths, labels, other spellings and look-alikes of a real action name are refused."""
    app, calls = recording
    for index, route in enumerate(ROUTES):
        if not isinstance(route.spec, ActionSpec):
            continue
        name = route.spec.name
        variants = {route.handler_name, route.label, f"{route.func.__module__}:{route.func.__name__}",
                    name.upper(), f" {name}", f"{name} ", f"{name}\x00", name.replace("_", "-"),
                    name.replace("_", "\uff3f"), f"../{name}", f"{name}()", f"__import__('{name}')"}
        for variant in variants - ACTION_NAMES:
            calls.clear()
            with pytest.raises(NotFound):
                _call(app, t.invoke_event(variant))
            assert not calls, f"{variant!r} reached {route.label}"
        calls.clear()
        _call(app, t.invoke_event(name))
        assert calls == {index: 1}  # the exact name does reach it: the refusals above mean something


# -- SQS: plain queues and the action queue -------------------------------------------------------
def _failed_codes(log_lines: Any) -> list[str]:
    import json

    return [json.loads(line).get("error") for line in log_lines()
            if "SQS message failed" in line]


def test_queues_refuse_every_non_queue_route_with_a_failed_record(
        recording: tuple[App, dict[int, int]], log_lines: Any) -> None:
    app, calls = recording
    queued = {i for i, r in enumerate(ROUTES) if isinstance(r.spec, ActionSpec) and r.spec.queue}
    tried = 0
    for index, route in enumerate(ROUTES):
        if index in queued or route.source == "sqs":
            continue
        for name in aims(route):
            for queue in (ACTION_QUEUE, "some-other-queue", name.replace("/", "-")[:80] or "q"):
                calls.clear()
                event = t.sqs_event([{"action": name}], queue=queue)
                reply = _call(app, event)
                assert index not in calls, f"{route.label} reached from queue {queue}"
                assert reply == {"batchItemFailures": [
                    {"itemIdentifier": event["Records"][0]["messageId"]}]}
                tried += 1
    codes = _failed_codes(log_lines)
    assert len(codes) == tried
    assert set(codes) <= {"not_found", "not_exposed"} and "not_exposed" in codes


@pytest.mark.parametrize("wrapped", ["s3", "s3_eventbridge", "sns", "sns_s3", "schedule",
                                     "custom_resource", "eventbridge"])
def test_the_action_queue_unwraps_nothing(wrapped: str, recording: tuple[App, dict[int, int]],
                                          log_lines: Any) -> None:
    """Only ``{"action": ...}`` work items count on the action queue: an S3, SNS, schedule or
    custom resource event in its body is a validation failure, whatever it names."""
    app, calls = recording
    s3_routes = [r for r in ROUTES if isinstance(r.spec, S3Spec)]
    route = s3_routes[0]
    spec = route.spec
    assert isinstance(spec, S3Spec) and isinstance(spec.bucket, Setting)
    bucket = f"bucket-{spec.bucket.variable.lower()}"
    key = f"{spec.prefix}00000000-0000-4000-8000-000000000000/original{spec.suffix}"
    notification = t.s3_event(bucket, key)
    body = {
        "s3": notification, "s3_eventbridge": t.s3_eventbridge_event(bucket, key),
        "sns": t.sns_envelope({"action": "health"}), "sns_s3": t.sns_envelope(notification),
        "schedule": t.schedule_event(sorted(SCHEDULE_NAMES)[0]),
        "custom_resource": t.custom_resource_event("Create", sorted(CR_TYPES)[0], {},
                                                   response_url="http://127.0.0.1:9/x"),
        "eventbridge": t.eventbridge_event("aws.glue", "Glue Job State Change", {}),
    }[wrapped]
    reply = _call(app, t.sqs_event([body], queue=ACTION_QUEUE))
    assert len(reply["batchItemFailures"]) == 1
    assert calls == {}
    assert _failed_codes(log_lines) == ["validation_failed"]
    # The same S3 notification on an ordinary queue is an S3 event, as documented.
    if wrapped == "s3":
        assert _call(app, t.sqs_event([body], queue="s3-events")) == {"batchItemFailures": []}
        assert calls == {ROUTES.index(route): 1}


# -- SNS ------------------------------------------------------------------------------------------
def test_sns_refuses_every_route_and_raises(recording: tuple[App, dict[int, int]]) -> None:
    app, calls = recording
    for index, route in _routes_except("sns"):
        for name in aims(route):
            work = {"action": name, "detail-type": name, "ResourceType": name}
            calls.clear()
            with pytest.raises(RecordsFailed) as caught:
                _call(app, t.sns_event(work, topic=name.replace("/", "-")[:200] or "t"))
            assert caught.value.permanent and "(not_found)" in caught.value.message
            event = t.sqs_event([t.sns_envelope(work, topic="alerts")], queue="subscription")
            assert len(_call(app, event)["batchItemFailures"]) == 1
            assert index not in calls, f"{route.label} reached from SNS as {name!r}"


# -- schedules (rules and Scheduler) and EventBridge ----------------------------------------------
@pytest.mark.parametrize("scheduler", [False, True], ids=["rule", "scheduler"])
def test_schedules_refuse_every_other_name_and_raise(
        scheduler: bool, recording: tuple[App, dict[int, int]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    app, calls = recording
    monkeypatch.setenv("OPSFN_SCHEDULE_PREFIX", "stack-")
    for _index, route in _routes_except("schedule"):
        for name in aims(route):
            for fired in (name, f"stack-{name}"):
                if fired.removeprefix("stack-") in SCHEDULE_NAMES:
                    continue
                calls.clear()
                with pytest.raises(NotFound) as caught:
                    _call(app, t.schedule_event(fired, scheduler=scheduler))
                assert caught.value.permanent
                assert not calls, f"{route.label} reached by schedule {fired!r}"
    # The prefix is honoured for real names, so the refusals above are not a broken lookup.
    name = sorted(SCHEDULE_NAMES)[0]
    _call(app, t.schedule_event(f"stack-{name}", scheduler=scheduler))
    assert list(calls.values()) == [1]


def test_eventbridge_refuses_every_other_route_and_raises(
        recording: tuple[App, dict[int, int]]) -> None:
    app, calls = recording
    sources = {"opsfn", "aws.glue", "aws.events", "aws.cloudformation", "custom.app"}
    for _index, route in _routes_except("eventbridge"):
        for name in aims(route):
            for source in sources:
                calls.clear()
                with pytest.raises(NotFound):
                    _call(app, t.eventbridge_event(source, name, {"action": name}))
                assert not calls, f"{route.label} reached by EventBridge {source}/{name}"


# -- custom resources -----------------------------------------------------------------------------
def test_custom_resources_answer_failed_once_and_delete_never_blocks(
        recording: tuple[App, dict[int, int]]) -> None:
    app, calls = recording
    with t.ResponseURLServer() as server:
        for _index, route in _routes_except("custom_resource"):
            for name in aims(route):
                resource_type = name if name.startswith("Custom::") else f"Custom::{name}"
                if resource_type in CR_TYPES:
                    continue
                for request_type, status in (("Create", "FAILED"), ("Update", "FAILED"),
                                             ("Delete", "SUCCESS")):
                    server.received.clear()
                    calls.clear()
                    event = t.custom_resource_event(
                        request_type, resource_type, {"action": name}, response_url=server.url,
                        physical_id=None if request_type == "Create" else "id-1",
                        old_properties={} if request_type == "Update" else None)
                    _call(app, event)
                    assert not calls, f"{route.label} reached as {resource_type}"
                    assert len(server.received) == 1
                    assert server.received[0]["body"]["Status"] == status


# -- S3 in every wrapping, for buckets no S3 route declares ----------------------------------------
def test_s3_events_for_other_buckets_raise_or_fail_the_record(
        recording: tuple[App, dict[int, int]]) -> None:
    app, calls = recording
    for _index, route in _routes_except("s3"):
        for name in aims(route):
            bucket = "".join(c if c.isalnum() else "-" for c in name.lower())[:63] or "b"
            notification = t.s3_event(bucket, f"uploads/{name}")
            calls.clear()
            with pytest.raises(RecordsFailed) as caught:
                _call(app, notification)
            assert caught.value.permanent and "(not_found)" in caught.value.message
            with pytest.raises(NotFound):
                _call(app, t.s3_eventbridge_event(bucket, name))
            with pytest.raises(RecordsFailed):
                _call(app, t.sns_event(notification, topic="s3-topic"))
            for body in (notification, t.sns_envelope(notification)):
                assert len(_call(app, t.sqs_event([body], queue="s3-q"))["batchItemFailures"]) == 1
            assert not calls, f"{route.label} reached by an S3 event for bucket {bucket}"


def test_every_refusal_is_typed(recording: tuple[App, dict[int, int]]) -> None:
    """Whatever a source sends, what escapes the handler is an OpsfnError, never a bare crash."""
    app, _ = recording
    for event in (t.invoke_event("\x00"), t.schedule_event(""), t.eventbridge_event("", "", {}),
                  t.sns_event("not json"), t.s3_event("b", "k")):
        with pytest.raises(OpsfnError) as caught:
            _call(app, event)
        assert caught.value.permanent, type(caught.value).__name__


# -- SES receipt events ---------------------------------------------------------------------------
SES_ROUTES = {i for i, r in enumerate(ROUTES) if r.source == "ses"}


def test_ses_events_reach_only_ses_routes(recording: tuple[App, dict[int, int]]) -> None:
    """Received mail names no route: whatever its message id, subject or sender say (a route's
    action name, label, handler path), only the SES routes run."""
    app, calls = recording
    assert SES_ROUTES
    for index, route in _routes_except("ses"):
        for name in aims(route):
            calls.clear()
            reply = _call(app, t.ses_event(name.replace("/", "-")[:120] or "m", subject=name,
                                           sender=f"{name}@x.example"))
            assert index not in calls, f"{route.label} reached by an SES event naming {name!r}"
            assert set(calls) == SES_ROUTES and reply["disposition"] == "CONTINUE"


@pytest.mark.parametrize("wrapping", ["sqs", "action_queue", "sns", "sns_sqs", "eventbridge"])
def test_ses_records_in_other_sources_reach_no_ses_route(
        wrapping: str, recording: tuple[App, dict[int, int]]) -> None:
    """An ``aws:ses`` record is served only as the Lambda action's own event, never unwrapped."""
    app, calls = recording
    event = t.ses_event("o3vrnil0e2ic28trm7dfhrc2v0cnbeccl4nbp0g1")
    wrapped = {"sqs": lambda: t.sqs_event([event], queue="mail"),
               "action_queue": lambda: t.sqs_event([event], queue=ACTION_QUEUE),
               "sns": lambda: t.sns_event(event, topic="mail"),
               "sns_sqs": lambda: t.sqs_event([t.sns_envelope(event, topic="mail")], queue="mail"),
               "eventbridge": lambda: t.eventbridge_event("aws.ses", "Email Received", event),
               }[wrapping]()
    try:
        reply = _call(app, wrapped)
        assert len(reply["batchItemFailures"]) == 1
    except OpsfnError as error:
        assert error.permanent
    assert calls == {}
    _call(app, event)  # the event itself does reach them: the refusals above mean something
    assert set(calls) == SES_ROUTES
