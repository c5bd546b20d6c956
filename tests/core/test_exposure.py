"""Exposure matrix: every route of the real app, aimed at from every source it does not declare.

Each route's function is replaced by a recorder; events from the other sources that name the
route as directly as they can (its action name as an HTTP path or body, an SNS message, an SQS
work item, an EventBridge detail-type, a schedule name, a custom resource type, an S3 key) must
never reach it.
"""

from __future__ import annotations

import contextlib
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
    SesSpec,
    Setting,
    SnsSpec,
    SqsSpec,
)
from opsfn.errors import OpsfnError
from opsfn.handler import app as real_app
from tests.core.apps import build


def _name(route: Route) -> str:
    spec = route.spec
    if isinstance(spec, ActionSpec):
        return spec.name
    if isinstance(spec, ScheduleSpec):
        return spec.name
    if isinstance(spec, HttpSpec):
        return spec.path.strip("/").split("/")[0] or "root"
    if isinstance(spec, CustomResourceSpec):
        return spec.resource_type.split("::", 1)[1]
    if isinstance(spec, EventBridgeSpec):
        return spec.detail_type or spec.source
    if isinstance(spec, S3Spec):
        return str(spec.bucket)
    if isinstance(spec, SqsSpec):
        return str(spec.queue)
    if isinstance(spec, SesSpec):
        return "ses"
    assert isinstance(spec, SnsSpec)
    return str(spec.topic)


def _events(route: Route, response_url: str) -> dict[str, list[dict[str, Any]]]:
    """Events of every source, each aimed at ``route`` by name."""
    name = _name(route)
    work = {"action": name, "name": name, "target": name}
    return {
        "http": [t.http_v2_event("POST", f"/{name}", body=work),
                 t.http_v1_event("GET", f"/{name}"), t.alb_event("POST", "/", body=work),
                 t.function_url_event("POST", f"/actions/{name}", body=work)],
        "action": [dict(work)],
        # SNS delivered through an SQS subscription is still SNS.
        "sns": [t.sns_event(work, topic=name),
                t.sqs_event([t.sns_envelope(work, topic=name)], queue="subscription")],
        "sqs": [t.sqs_event([work], queue=name), t.sqs_event([work], queue="undeclared-queue")],
        "eventbridge": [t.eventbridge_event("opsfn", name, work),
                        t.eventbridge_event(f"aws.{name}", name, work)],
        "schedule": [t.schedule_event(name), t.schedule_event(name, scheduler=True)],
        "custom_resource": [t.custom_resource_event("Create", f"Custom::{name}", work,
                                                    response_url=response_url)],
        "s3": [t.s3_event(name, name), t.s3_eventbridge_event(name, f"{name}/x")],
        # Received mail names no rule: the message id is the only name an SES event carries.
        "ses": [t.ses_event(name), t.ses_event(name, subject=name, sender=f"{name}@x.example")],
    }


def _recording_app(source_app: App) -> tuple[App, dict[int, list[str]]]:
    calls: dict[int, list[str]] = {}
    app = App()

    def make_recorder(index: int) -> Any:
        def recorder() -> None:
            calls.setdefault(index, []).append("called")

        return recorder

    for index, route in enumerate(source_app.registry.routes):
        app._add(Route(route.source, route.spec, make_recorder(index)))
    return app, calls


def _apps() -> list[tuple[str, App]]:
    return [("builtin", real_app), ("test-app", build([]))]


@pytest.mark.parametrize(("label", "source_app"), _apps(), ids=["builtin", "test-app"])
def test_no_route_is_reachable_from_an_undeclared_source(label: str, source_app: App,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSFN_ACTION_QUEUE", "actions")
    app, calls = _recording_app(source_app)
    routes = app.registry.routes
    for variable in {r.spec.bucket.variable for r in routes if isinstance(r.spec, S3Spec)
                     and isinstance(r.spec.bucket, Setting)}:
        monkeypatch.setenv(variable, f"bucket-for-{variable.lower()}")
    tried = 0
    with t.ResponseURLServer() as server:
        for index, route in enumerate(routes):
            for source, events in _events(route, server.url).items():
                if source == route.source:
                    continue
                for event in events:
                    calls.clear()
                    with contextlib.suppress(OpsfnError):
                        app(event, t.FakeLambdaContext(10_000))
                    tried += 1
                    assert index not in calls, (
                        f"{route.label} ({route.source}) was reached from {source}")
    assert tried >= len(routes) * 10


def test_action_queue_refuses_actions_that_did_not_opt_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSFN_ACTION_QUEUE", "actions")
    app, calls = _recording_app(real_app)
    for index, route in enumerate(app.registry.routes):
        if not isinstance(route.spec, ActionSpec):
            continue
        reply = app(t.sqs_event([{"action": route.spec.name}], queue="actions"),
                    t.FakeLambdaContext())
        if route.spec.queue:
            assert index in calls and reply == {"batchItemFailures": []}
        else:
            assert index not in calls and len(reply["batchItemFailures"]) == 1


def test_declared_sources_do_reach_their_routes(monkeypatch: pytest.MonkeyPatch) -> None:
    """The matrix above would pass vacuously if nothing ever ran: check the diagonal too."""
    monkeypatch.setenv("OPSFN_ACTION_QUEUE", "actions")
    app, calls = _recording_app(real_app)
    for index, route in enumerate(app.registry.routes):
        if isinstance(route.spec, ActionSpec):
            app(t.invoke_event(route.spec.name), t.FakeLambdaContext())
            assert index in calls
        elif isinstance(route.spec, HttpSpec) and "{" not in route.spec.path:
            auth = None if route.spec.auth == "public" else "iam"
            reply = app(t.http_v2_event(route.spec.method, route.spec.path, body={}, auth=auth),
                        t.FakeLambdaContext())
            assert reply["statusCode"] < 400
            assert index in calls
        elif isinstance(route.spec, ScheduleSpec):
            app(t.schedule_event(route.spec.name), t.FakeLambdaContext())
            assert index in calls
        elif isinstance(route.spec, SesSpec):
            app(t.ses_event("o3vrnil0e2ic28trm7dfhrc2v0cnbeccl4nbp0g1"), t.FakeLambdaContext())
            assert index in calls
