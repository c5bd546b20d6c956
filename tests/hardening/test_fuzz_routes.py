"""Property tests: hostile events of every kind, and every route's input through its real source,
only ever give a proper reply for the source or an OpsfnError — no other exception, no hang, no
stack trace or internal message in a reply, exactly one custom-resource answer.

The routes are walked from the real app's registry at collection time, so a new route is fuzzed
without touching this file. Everything runs against moto with the resources the routes name
(:func:`fuzz_strategies.build_world`), so inputs get past settings and into real work.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from opsfn import testing as t
from opsfn.core import app as app_module
from opsfn.core.router import Route
from opsfn.errors import InternalError, OpsfnError, UnsupportedEvent
from opsfn.events import KINDS, detect
from opsfn.handler import app
from tests.hardening import fuzz_strategies as fz

ROUTES: list[Route] = list(app.registry.routes)

FUZZ = settings(max_examples=25, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                       HealthCheck.filter_too_much, HealthCheck.data_too_large])


@pytest.fixture
def world(moto_aws: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The resources every built-in route names, in moto, and the settings naming them."""
    env = fz.build_world(tmp_path)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def harness(world: dict[str, str]) -> Iterator[fz.Harness]:
    """Answers captured instead of PUT, unexpected route exceptions recorded."""
    with fz.Harness(app) as running:
        yield running


@pytest.fixture
def reached(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """Labels of the routes that actually ran (from the per-invocation route statistics)."""
    labels: set[str] = set()

    def record(stats: dict[str, list[float]]) -> None:
        labels.update(stats)

    # Metrics on, so every invocation hands its statistics over; recorded, never printed.
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    monkeypatch.setattr(app_module, "emit_route_metrics", record)
    return labels


def _assert_proper(harness: fz.Harness, event: Any, label: str) -> None:
    problems = harness.run(event)
    assert not problems, f"{label}: {problems}\nevent: {fz.describe(event)}"


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_mutated_and_wrapped(kind: str, harness: fz.Harness,
                                        world: dict[str, str]) -> None:
    """Base events of each kind with dropped keys, swapped types, odd values and wrappers."""
    names = fz.Names.from_app(app, world)

    @FUZZ
    @given(fz.any_event(names, kinds=(kind,)))
    def check(case: tuple[str, Any]) -> None:
        _assert_proper(harness, case[1], kind)

    check()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("route", ROUTES, ids=[r.label for r in ROUTES])
def test_route_inputs_through_their_source(route: Route, harness: fz.Harness, world: dict[str, str],
                                           reached: set[str]) -> None:
    """Inputs from the route's model (valid-ish and corrupted) delivered as its source delivers them."""
    seen: set[str] = set()

    @FUZZ
    @given(fz.route_events(route, world))
    def check(case: fz.Case) -> None:
        harness.store(case.objects)
        seen.add(case.how)
        _assert_proper(harness, case.event, f"{route.label} via {case.how}")

    check()
    assert route.label in reached, f"no fuzzed input reached {route.label} (only {seen})"


# -- the oracle can fail ------------------------------------------------------------------------
def _http_event() -> dict[str, Any]:
    return t.http_v2_event("GET", "/health")


@pytest.mark.parametrize(("event", "reply", "error", "answers", "expected"), [
    (_http_event(), {"statusCode": 500, "headers": {}, "body": json.dumps({
        "error": "x", "message": 'Traceback (most recent call last): File "a.py"'})}, None, [],
     "Traceback"),
    (_http_event(), {"statusCode": 500, "headers": {}, "body": json.dumps({
        "error": "internal_error", "message": "internal error"})}, None, [], "internal_error"),
    (_http_event(), {"statusCode": "200", "body": ""}, None, [], "int statusCode"),
    (_http_event(), None, UnsupportedEvent("no"), [], "instead of replying"),
    (_http_event(), {"statusCode": 400, "headers": {}, "body": json.dumps({
        "error": "validation_failed", "message": "bad"})}, None, [], "field paths"),
    ({"action": "health"}, None, KeyError("x"), [], "KeyError escaped"),
    ({"action": "health"}, None, InternalError("internal error"), [], "InternalError"),
    ({"action": "health"}, None, OpsfnError("bad: KeyError('x')"), [], "KeyError"),
    (t.sqs_event(["x"]), {"batchItemFailures": [{"itemIdentifier": "nope"}]}, None, [],
     "not in the batch"),
    (t.sqs_event(["x"]), {"failed": []}, None, [], "batchItemFailures"),
    (t.custom_resource_event("Create", "Custom::X", {}, response_url="https://x"), {}, None, [],
     "answered 0 times"),
    (t.custom_resource_event("Create", "Custom::X", {}, response_url="https://x"), {}, None,
     [{"Status": "SUCCESS", "Reason": "OK", "PhysicalResourceId": "p", "_bytes": 10}] * 2,
     "answered 2 times"),
    (t.custom_resource_event("Create", "Custom::X", {}, response_url="https://x"), {}, None,
     [{"Status": "FAILED", "Reason": "", "PhysicalResourceId": "p", "_bytes": 10}], "Reason"),
    ({"action": "health"}, {"bad": {1, 2}}, None, [], "not JSON"),
])
def test_judge_rejects_improper_outcomes(event: Any, reply: Any, error: BaseException | None,
                                         answers: list[dict[str, Any]], expected: str) -> None:
    """Each kind of improper outcome is reported, so a passing fuzz run means something."""
    problems = fz.judge(event, reply, error, answers)
    assert any(expected in p for p in problems), problems


def test_hang_guard_interrupts_a_stuck_call() -> None:
    """A call that never returns is reported as a hang instead of blocking the run."""
    import time

    class Stuck:
        def __call__(self, event: Any, context: Any) -> Any:
            while True:
                time.sleep(0.01)

    stuck = fz.Harness(Stuck())
    original, fz.HANG_S = fz.HANG_S, 0.3
    try:
        problems = stuck.run({"action": "health"})
    finally:
        fz.HANG_S = original
    assert problems and problems[0].startswith("hang")


# -- regressions the fuzzing found --------------------------------------------------------------
DEEP = "[" * 100_000 + "]" * 100_000


def test_custom_resource_request_type_of_any_json_type_is_unsupported() -> None:
    """An unhashable RequestType used to raise TypeError out of detection."""
    event = t.custom_resource_event("Create", "Custom::X", {}, response_url="https://x")
    for value in (["Create"], {"a": 1}, 1, None):
        event["RequestType"] = value
        with pytest.raises(UnsupportedEvent):
            detect(event)


@pytest.mark.parametrize("event", [
    t.sqs_event([DEEP]),
    t.sqs_event([t.sns_envelope(DEEP)]),
    t.sns_event(DEEP),
    {**t.schedule_event("database-auto-stop", scheduler=True), "detail": DEEP},
    {**t.eventbridge_event("aws.glue", "Glue Job State Change", {}), "detail": DEEP},
    t.http_v2_event("POST", "/database/activity", body=DEEP, auth="iam"),
], ids=["sqs", "sns_sqs", "sns", "schedule", "eventbridge", "http"])
def test_deeply_nested_json_text_is_a_proper_outcome(event: dict[str, Any],
                                                     harness: fz.Harness) -> None:
    """JSON nested past the decoder's recursion limit used to surface as an internal error."""
    _assert_proper(harness, event, "deep JSON")


def test_http_deep_body_is_a_400_naming_the_body(world: dict[str, str]) -> None:
    """The deep body is reported as invalid JSON at ``body``, like any other broken body."""
    reply = t.parse_http_reply(app(t.http_v2_event("POST", "/database/activity", body=DEEP,
                                                   auth="iam"), t.FakeLambdaContext(5000)))
    assert reply.status == 400
    assert reply.json()["details"][0]["loc"] == "body"


@pytest.mark.parametrize("field", ["StackId", "RequestId", "LogicalResourceId",
                                   "PhysicalResourceId"])
def test_custom_resource_with_lone_surrogates_is_answered_once(field: str,
                                                               harness: fz.Harness) -> None:
    """A lone surrogate echoed into the answer used to make encoding fail: no answer at all."""
    for request_type in ("Create", "Delete"):
        event = t.custom_resource_event(request_type, "Custom::SslMaterials", {},
                                        response_url="https://x", physical_id="p")
        if request_type == "Create":
            del event["PhysicalResourceId"]
        event[field] = "a\ud800b"
        _assert_proper(harness, event, f"{request_type} with {field}")
        assert harness.answers[0]["Status"] in ("SUCCESS", "FAILED")


def test_sync_continuation_with_a_forged_huge_seq_finishes(harness: fz.Harness) -> None:
    """A continuation claiming seq 2**31 used to build 2**31 segment keys (a hang, then no memory)."""
    _assert_proper(harness, t.invoke_event("sync_efs_to_s3", seq=2**31, compare="listing"),
                   "huge seq")
    assert harness.outcome == "result"


def test_strategies_cover_every_kind_and_mutation() -> None:
    """The strategies produce every kind, and mutations really drop keys and swap types."""
    kinds: set[str] = set()
    changes: set[str] = set()
    base = t.s3_event("b", "k")
    record = base["Records"][0]

    @settings(max_examples=300, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(fz.any_event(), fz.mutate(base, rounds=1))
    def collect(case: tuple[str, Any], mutated: Any) -> None:
        kinds.add(case[0])
        inner = mutated.get("Records") if isinstance(mutated, dict) else None
        got = inner[0] if isinstance(inner, list) and inner and isinstance(inner[0], dict) else None
        if got is not None:
            if set(got) < set(record):
                changes.add("dropped")
            if isinstance(got.get("s3"), str):
                changes.add("object became a string")

    collect()
    assert kinds == set(KINDS)
    assert changes == {"dropped", "object became a string"}
