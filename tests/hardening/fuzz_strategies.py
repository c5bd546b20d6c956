"""Fuzzing kit for opsfn: hostile events of every kind, route inputs from each route's model, and
the checks that decide whether an outcome is a proper reply for its source.

Plain module (no pytest fixtures) so that both ``tests/hardening/test_fuzz_routes.py`` and
``bench/fuzz.py`` run exactly the same properties: build a world with :func:`build_world` inside
moto, wrap calls in a :class:`Harness`, draw ``(label, event)`` pairs from :func:`any_event` or
:func:`route_events`, and pass each to :meth:`Harness.run`, which returns the problems found.
"""

from __future__ import annotations

import datetime as dt
import json
import signal
import time
import typing
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

from hypothesis import strategies as st

from opsfn import testing as t
from opsfn.core.binding import binder_for
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
from opsfn.errors import InternalError, OpsfnError
from opsfn.events import HTTP_KINDS, KINDS, detect
from opsfn.tooling.introspect import input_model

# -- hostile values ---------------------------------------------------------------------------
UNICODE_ODDITIES = [
    "\u202e\u0645\u0631\u062d\u0628\u0627",  # RTL override and Arabic
    "e\u0301\u0301\u0301\u20dd",  # stacked combining marks
    "\ud800", "\udfff", "a\udc80b",  # lone surrogates (a JSON "\ud800" escape decodes to these)
    "\x00", "a\x00b", "\x1b[31m", "\r\n\t", "\u2028\u2029",
    "\ufeff", "\u200b\u200d", "\U0001f600\U0001f3fd", "\U0001d552\U0001d553",
    "\u0130\u00df\ufb03", "\uff0f\uff0e\uff0e", "\u0000\u0000", "\uffff", "\U0010ffff",
]
PATHISH = ["../../etc/passwd", "..", "/", "//", "%2e%2e%2f", "%ZZ", "%00", "%", "+", "%2B",
           "%252F", "a+b", "a%20b", "C:\\x", "?x=1#f", "*", "${LANDING_BUCKET}"]
JSONISH = ["{}", "[]", "null", "true", "0", '""', '{"Records": []}', '{"action": "health"}',
           '"\\ud800"', '"\\u0000"', '{"a":' * 20 + "1" + "}" * 20, "[" * 3000 + "]" * 3000,
           "{" * 50, "1e999", "-0", "9" * 5000, "NaN", "Infinity"]
HUGE = ["x" * 70_000, "\u00e9" * 30_000, "\U0001f600" * 10_000]


def odd_strings() -> st.SearchStrategy[str]:
    """Strings meant to break parsers, encoders, loggers and AWS invocation."""
    return (
        st.sampled_from(UNICODE_ODDITIES + PATHISH + JSONISH + HUGE + ["", " "])
        | st.text(max_size=30)
        | st.text(st.characters(codec=None, categories=["Cs", "Cc", "Cf", "Mn", "Zl", "Zp"]),
                  max_size=8)
        | st.tuples(st.text(max_size=10), st.sampled_from(UNICODE_ODDITIES)).map("".join)
    )


def json_values(max_leaves: int = 12) -> st.SearchStrategy[Any]:
    """Any JSON value, small."""
    scalars = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
               | st.text(max_size=20))
    return st.recursive(
        scalars,
        lambda children: st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=10), children, max_size=4),
        max_leaves=max_leaves,
    )


def odd_values() -> st.SearchStrategy[Any]:
    """A value of the wrong type or size for wherever it lands."""
    return (
        odd_strings()
        | st.sampled_from([None, True, False, 0, -1, 2**70, -(2**63), 1e308, -0.0, 0.5, [], {},
                           [None], {"": None}, [[[[[]]]]], list(range(200))])
        | json_values()
    )


def deep(value: Any, depth: int) -> Any:
    """``value`` nested ``depth`` times in alternating lists and objects."""
    for level in range(depth):
        value = [value] if level % 2 else {"x": value}
    return value


# -- base events of every kind ----------------------------------------------------------------
@dataclass(frozen=True)
class Names:
    """Names that reach real routes, so fuzzed events get past lookup and into routes."""

    http: tuple[tuple[str, str], ...] = (("GET", "/health"),)
    actions: tuple[str, ...] = ("health",)
    schedules: tuple[str, ...] = ("x",)
    eventbridge: tuple[tuple[str, str], ...] = (("aws.glue", "Glue Job State Change"),)
    resource_types: tuple[str, ...] = ("Custom::X",)
    buckets: tuple[str, ...] = ("bucket",)
    queues: tuple[str, ...] = ("opsfn-work",)
    topics: tuple[str, ...] = ("opsfn-topic",)
    message_ids: tuple[str, ...] = ("o3vrnil0e2ic28trm7dfhrc2v0cnbeccl4nbp0g1",)

    @classmethod
    def from_app(cls, app: Any, env: dict[str, str]) -> Names:
        """The app's route keys; settings-named buckets resolved from ``env``."""
        reg = app.registry

        def resolve(name: str | Setting) -> str:
            return env.get(name.variable, name.variable) if isinstance(name, Setting) else name

        http = tuple((r.spec.method, r.spec.path) for r in reg.routes if isinstance(r.spec, HttpSpec))
        buckets = tuple(resolve(r.spec.bucket) for r in reg.routes if isinstance(r.spec, S3Spec))
        queues = tuple(resolve(r.spec.queue) for r in reg.routes if isinstance(r.spec, SqsSpec))
        topics = tuple(resolve(r.spec.topic) for r in reg.routes if isinstance(r.spec, SnsSpec))
        return cls(
            http=http or cls.http, actions=tuple(reg.actions) or cls.actions,
            schedules=tuple(reg.schedules) or cls.schedules,
            eventbridge=tuple((s, d or "Any") for s, d in reg.eventbridge) or cls.eventbridge,
            resource_types=tuple(reg.custom_resources) or cls.resource_types,
            buckets=buckets or cls.buckets,
            queues=(*queues, env.get("OPSFN_ACTION_QUEUE", "opsfn-work"), "opsfn-work"),
            topics=topics or cls.topics,
        )


HTTP_SHAPES = ("http_v1", "http_v2", "function_url", "alb")
VIAS = ("direct", "eventbridge", "sqs", "sns", "sns_sqs", "sqs_eventbridge")


def http_event(shape: str, method: str, path: str, *, body: Any = None,
               query: dict[str, str] | None = None, binary: bool = False,
               multi_value: bool = False, auth: str | None = None) -> dict[str, Any]:
    """An HTTP event in any of the four source shapes (query values may hold lone surrogates);
    ``auth`` adds the caller an authorizer would pass (not on an ALB)."""
    if shape == "http_v1":
        event = t.http_v1_event(method, path, body=body, binary=binary, auth=auth)
    elif shape == "http_v2":
        event = t.http_v2_event(method, path, body=body, binary=binary, auth=auth)
    elif shape == "function_url":
        event = t.function_url_event(method, path, body=body, binary=binary, auth=auth)
    else:
        event = t.alb_event(method, path, body=body, binary=binary, multi_value=multi_value)
    if not query:
        return event
    if shape == "alb":
        encoded = {_quote(k): _quote(v) for k, v in query.items()}
        name = "multiValueQueryStringParameters" if multi_value else "queryStringParameters"
        event[name] = {k: [v] for k, v in encoded.items()} if multi_value else encoded
        return event
    event["queryStringParameters"] = dict(query)
    if shape == "http_v1":
        event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()}
    else:
        event["rawQueryString"] = "&".join(f"{_quote(k)}={_quote(v)}" for k, v in query.items())
    return event


def _quote(text: str, safe: str = "") -> str:
    """URL-encode as AWS does; lone surrogates become their (invalid) UTF-8 bytes."""
    return quote_plus(text, safe=safe, errors="surrogatepass")


def s3_notification(bucket: str, keys: list[str], size: int = 1024,
                    event_name: str = "ObjectCreated:Put") -> dict[str, Any]:
    """A direct S3 notification whose keys are encoded the way S3 encodes them."""
    event = t.s3_event(bucket, ["k"] * len(keys), size=size, event_name=event_name)
    for record, key in zip(event["Records"], keys, strict=True):
        record["s3"]["object"]["key"] = _quote(key, safe="/")
    return event


def s3_delivery(bucket: str, key: str, via: str, size: int = 1024,
                event_name: str = "ObjectCreated:Put") -> dict[str, Any]:
    """An object event for ``bucket``/``key`` the way ``via`` delivers it."""
    notification = s3_notification(bucket, [key], size=size, event_name=event_name)
    bridged = t.s3_eventbridge_event(bucket, key, size=size)
    return {
        "direct": lambda: notification,
        "eventbridge": lambda: bridged,
        "sqs": lambda: t.sqs_event([notification], "opsfn-s3-events"),
        "sns": lambda: t.sns_event(notification, "opsfn-s3-topic"),
        "sns_sqs": lambda: t.sqs_event([t.sns_envelope(notification, "opsfn-s3-topic")],
                                       "opsfn-s3-events"),
        "sqs_eventbridge": lambda: t.sqs_event([bridged], "opsfn-s3-events"),
    }[via]()


def s3_keys(prefix: str = "", suffix: str = "") -> st.SearchStrategy[str]:
    """Object keys: plain, odd unicode, URL-encoding traps, huge, with the route's affixes."""
    middle = (
        st.from_regex(r"[a-z0-9/._-]{1,30}", fullmatch=True)
        | odd_strings()
        | st.builds(lambda u: f"{u}/original", st.uuids().map(str))
        | st.sampled_from(["a b", "a+b", "a%2Bb", "%", "%%", "%E2%82", "%ff%fe", "x" * 1100,
                           "\u00e9/\u0301", "a//b", "./x", "", " "])
    )
    return st.builds(lambda m: f"{prefix}{m}{suffix}", middle) | middle


@st.composite
def base_event(draw: st.DrawFn, kind: str, names: Names = Names()) -> dict[str, Any]:
    """One realistic event of ``kind`` (a name from ``names`` half the time)."""
    text = st.text(max_size=20)
    if kind in HTTP_KINDS:
        method, path = draw(st.sampled_from(names.http)) if draw(st.booleans()) else (
            draw(st.sampled_from(["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "get", "BREW"])),
            "/" + draw(text))
        body = draw(st.none() | json_values() | odd_strings())
        query = draw(st.dictionaries(text, text, max_size=3))
        return http_event(kind, method, path, body=body, query=query,
                          multi_value=draw(st.booleans()))
    if kind == "s3":
        keys = draw(st.lists(s3_keys(), min_size=1, max_size=3))
        return s3_notification(draw(st.sampled_from(names.buckets) | text), keys,
                               event_name=draw(st.sampled_from(["ObjectCreated:Put", "ObjectRemoved:Delete"])
                                          | text))
    if kind == "s3_eventbridge":
        return t.s3_eventbridge_event(draw(st.sampled_from(names.buckets) | text), draw(s3_keys()),
                                      reason=draw(st.sampled_from(["PutObject", "CopyObject"]) | text))
    if kind == "sqs":
        bodies = draw(st.lists(json_values() | odd_strings() | st.builds(
            t.invoke_event, st.sampled_from(names.actions)), min_size=1, max_size=3))
        return t.sqs_event(bodies, draw(st.sampled_from(names.queues) | text))
    if kind == "sns":
        return t.sns_event(draw(st.lists(json_values() | odd_strings(), min_size=1, max_size=3)),
                           draw(st.sampled_from(names.topics) | text))
    if kind == "schedule":
        return t.schedule_event(draw(st.sampled_from(names.schedules) | text),
                                scheduler=draw(st.booleans()))
    if kind == "eventbridge":
        source, detail_type = draw(st.sampled_from(names.eventbridge))
        detail = draw(st.dictionaries(text, json_values(), max_size=4))
        return t.eventbridge_event(source, detail_type, detail)
    if kind == "custom_resource":
        return t.custom_resource_event(
            draw(st.sampled_from(["Create", "Update", "Delete"])),
            draw(st.sampled_from(names.resource_types) | st.just("Custom::Nope")),
            draw(st.dictionaries(text, json_values(), max_size=4)),
            response_url="https://cloudformation-custom-resource-response.example/x?sig=1",
            old_properties=draw(st.none() | st.dictionaries(text, json_values(), max_size=2)),
            physical_id=draw(st.none() | text))
    if kind == "ses":
        ids = draw(st.lists(st.sampled_from(names.message_ids) | text, min_size=1, max_size=3))
        return t.ses_event(ids, verdicts=draw(ses_verdicts()), sender=draw(text),
                           subject=draw(odd_strings()))
    if kind == "invoke":
        return t.invoke_event(draw(st.sampled_from(names.actions) | text),
                              **draw(st.dictionaries(text.filter(lambda k: k != "action"),
                                                     json_values(), max_size=4)))
    raise ValueError(f"unknown kind {kind!r}")


# -- structured mutations ---------------------------------------------------------------------
def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path into a JSON value, the value itself first."""
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from paths(child, (*prefix, index))


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        value = value[part]
    return value


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _swap_type(value: Any) -> Any:
    """The same content in another JSON type."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return [value]
    if isinstance(value, dict | list):
        return json.dumps(value)  # a string where an object belongs
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return str(value)
    return {}


def _replacement(draw: st.DrawFn, op: str, old: Any) -> Any:
    """The new value a mutation puts where ``old`` was."""
    if op == "swap":
        return _swap_type(old)
    if op == "stringify":
        return json.dumps(old)
    if op == "odd":
        return draw(odd_values())
    if op == "huge":
        return draw(st.sampled_from(HUGE))
    if op == "empty":
        return type(old)() if isinstance(old, str | list | dict) else ""
    if op == "unicode":
        odd = draw(st.sampled_from(UNICODE_ODDITIES))
        return old + odd if isinstance(old, str) else odd
    if op == "nest":
        return deep(old, draw(st.sampled_from([1, 2, 50, 400])))
    return None


MUTATIONS = ("drop", "swap", "stringify", "odd", "huge", "empty", "unicode", "nest", "null")


@st.composite
def mutate(draw: st.DrawFn, event: Any, rounds: int = 3) -> Any:
    """``event`` with 1..``rounds`` structured mutations at random paths."""
    event = _copy(event)
    for _ in range(draw(st.integers(1, rounds))):
        if not isinstance(event, dict | list):
            return event
        path = draw(st.sampled_from(list(paths(event))))
        op = draw(st.sampled_from(MUTATIONS))
        old = _get(event, path)
        if op == "drop" and path:
            del _get(event, path[:-1])[path[-1]]
            continue
        new = _replacement(draw, op, old)
        if not path:
            event = new
        else:
            _get(event, path[:-1])[path[-1]] = new
    return event


@st.composite
def wrapped(draw: st.DrawFn, event: Any) -> Any:
    """``event`` inside the wrappers AWS puts around events: SNS, SQS, SNS in SQS, twice-encoded."""
    layers = draw(st.lists(st.sampled_from(["sqs", "sns", "sns_sqs", "string", "eventbridge"]),
                           min_size=1, max_size=3))
    for layer in layers:
        if layer == "sqs":
            event = t.sqs_event([event])
        elif layer == "sns":
            event = t.sns_event(event)
        elif layer == "sns_sqs":
            event = t.sqs_event([t.sns_envelope(event)])
        elif layer == "string":
            event = t.sqs_event([json.dumps(json.dumps(event))])
        else:
            event = t.eventbridge_event("aws.s3", "Object Created", {"inner": event})
    return event


@st.composite
def any_event(draw: st.DrawFn, names: Names = Names(), kinds: tuple[str, ...] = KINDS
              ) -> tuple[str, Any]:
    """``(kind, event)``: a base event of ``kind``, often mutated, sometimes wrapped."""
    kind = draw(st.sampled_from(kinds))
    event: Any = draw(base_event(kind, names))
    if draw(st.integers(0, 3)):
        event = draw(mutate(event))
    if draw(st.integers(0, 4)) == 0:
        event = draw(wrapped(event))
    return kind, event


# -- inputs generated from a route's model ----------------------------------------------------
# Names that exist in the fuzz world (:func:`build_world`): free-text fields sometimes get one,
# so inputs reach the work behind the lookups instead of stopping at "no such target".
WORLD_NAMES = ("api", "web", "db", "fuzz-db", "fuzz", "fuzz-uploads", "fuzz-landing", "fuzz-sync",
               "fuzz/smtp", "fuzz-vault", "d", "a.txt")


def from_schema(schema: dict[str, Any], defs: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values (mostly) valid for a pydantic JSON schema: enough of the dialect pydantic emits."""
    if "$ref" in schema:
        return st.deferred(lambda: from_schema(defs[schema["$ref"].rsplit("/", 1)[-1]], defs))
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return st.one_of([from_schema(s, defs) for s in schema[key]])
    if "allOf" in schema and len(schema["allOf"]) == 1:
        return from_schema(schema["allOf"][0], defs)
    kind = schema.get("type")
    if kind == "null":
        return st.none()
    if kind == "boolean":
        return st.booleans()
    if kind == "integer":
        low = schema.get("minimum", schema.get("exclusiveMinimum", -(2**40) - 1) + 1)
        high = schema.get("maximum", schema.get("exclusiveMaximum", 2**40 + 1) - 1)
        return st.integers(low, high)
    if kind == "number":
        return st.floats(schema.get("minimum"), schema.get("maximum"), allow_nan=False,
                         allow_infinity=False)
    if kind == "string":
        low, high = schema.get("minLength", 0), min(schema.get("maxLength", 40), 80)
        if "pattern" in schema:
            return st.from_regex(schema["pattern"], fullmatch=True).filter(
                lambda s: low <= len(s) <= schema.get("maxLength", 10**9))
        if schema.get("format") == "date-time":
            return st.datetimes(timezones=st.just(dt.UTC)).map(lambda d: d.isoformat()) | st.sampled_from(
                ["2026-01-01T00:00:00", "yesterday", "2026-13-45T99:99:99Z", "0000-00-00T00:00:00Z"])
        known = [n for n in WORLD_NAMES if low <= len(n) <= schema.get("maxLength", 10**9)]
        text = st.text(min_size=low, max_size=max(low, high))
        return text | st.sampled_from(known) if known else text
    if kind == "array":
        return st.lists(from_schema(schema.get("items", {}), defs),
                        min_size=schema.get("minItems", 0),
                        max_size=min(schema.get("maxItems", 4), 4))
    if kind == "object" or "properties" in schema:
        return _object(schema, defs)
    return json_values()


def _object(schema: dict[str, Any], defs: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    props: dict[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", []))
    fields = {name: from_schema(sub, defs) for name, sub in props.items()}

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        out = {}
        for name, strategy in fields.items():
            if name in required or draw(st.booleans()):
                out[name] = draw(strategy)
        if isinstance(schema.get("additionalProperties"), dict):
            out.update(draw(st.dictionaries(st.text(max_size=8), json_values(), max_size=2)))
        return out

    return build()


def model_schema(model: Any) -> dict[str, Any]:
    """The model's JSON schema in validation mode."""
    return model.model_json_schema(mode="validation")  # type: ignore[no-any-return]


@st.composite
def model_inputs(draw: st.DrawFn, model: Any) -> Any:
    """A payload for ``model``: valid-ish, then maybe corrupted (missing, wrong-typed, extra keys)."""
    if model is None:
        return draw(st.dictionaries(st.text(max_size=10), json_values(), max_size=4))
    schema = model_schema(model)
    value: dict[str, Any] = draw(_object(schema, schema.get("$defs", {})))
    keys = list(schema.get("properties", {}))
    for _ in range(draw(st.sampled_from([0, 0, 1, 2, 3]))):  # 40 % left valid-ish
        op = draw(st.sampled_from(["missing", "wrong", "extra", "nested", "unicode"]))
        name = draw(st.sampled_from(keys)) if keys else "x"
        if op == "missing":
            value.pop(name, None)
        elif op == "wrong":
            value[name] = draw(odd_values())
        elif op == "extra":
            value[draw(st.sampled_from(["ServiceToken", "__class__", "x", "\u202e", ""])
                       | st.text(max_size=6))] = draw(odd_values())
        elif op == "nested" and isinstance(value.get(name), dict | list):
            value[name] = draw(mutate(value[name]))
        elif isinstance(value.get(name), str):
            value[name] = value[name] + draw(st.sampled_from(UNICODE_ODDITIES))
    return value


def _query_value(annotation: Any) -> st.SearchStrategy[str]:
    """A query or path string for a scalar parameter: a valid rendering or garbage."""
    base = typing.get_args(annotation) or (annotation,)
    valid: st.SearchStrategy[str] = st.text(max_size=30)
    if int in base:
        valid = st.integers().map(str)
    elif bool in base:
        valid = st.sampled_from(["true", "false", "1", "0", "yes"])
    elif float in base:
        valid = st.floats().map(str)
    return valid | odd_strings() | st.builds(str, st.uuids())


@st.composite
def s3_contents(draw: st.DrawFn) -> bytes:
    """Bytes to store under a fuzzed key: empty, junk, broken JSON, image magic without an image."""
    return draw(st.sampled_from([b"", b"\x00" * 10, b"{", b'{"resourceType": "Patient"}',
                                 b"\x89PNG\r\n\x1a\n" + b"\x00" * 20, b"\xff\xd8\xff" + b"\x00" * 9,
                                 b"\x00" * 128 + b"DICM" + b"\x02\x00" * 8, b"[" * 5000])
                | st.binary(max_size=64))


def ses_verdicts() -> st.SearchStrategy[dict[str, str]]:
    """Receipt verdicts: the statuses SES reports, and junk."""
    return st.dictionaries(st.sampled_from(["spam", "virus", "spf", "dkim", "dmarc"]),
                           st.sampled_from(["PASS", "FAIL", "GRAY", "PROCESSING_FAILED",
                                            "DISABLED", ""]) | st.text(max_size=8), max_size=5)


MAIL = (b"From: Jane <jane@mail.example.net>\r\nTo: inbox@clinic.example\r\nSubject: hi\r\n"
        b"DKIM-Signature: v=1;\r\n b=x\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\nGr\xc3\xbc\xc3\x9fe\r\n")


@st.composite
def mail_contents(draw: st.DrawFn) -> bytes:
    """A stored message: a real one, one without a header, broken headers, junk."""
    return draw(st.sampled_from([MAIL, b"", b"\r\n\r\nbody", b"no header\r\n\r\nx",
                                 b"From: undisclosed\r\n\r\nx", MAIL.replace(b"\r\n", b"\n"),
                                 b"From: a@b.example\r\nFrom: c@d.example\r\n\r\n"])
                | st.binary(max_size=64))


@dataclass
class Case:
    """One fuzz case for a route: how it travels, the event, and objects to store first."""

    how: str
    event: Any
    objects: list[tuple[str, str, bytes]] = field(default_factory=list)


@st.composite
def route_events(draw: st.DrawFn, route: Route, env: dict[str, str]) -> Case:
    """An input for ``route`` delivered through the route's own source."""
    model = input_model(route)
    spec = route.spec
    if isinstance(spec, HttpSpec):
        signed = spec.auth != "public"  # an operator route: through an authorizer, so not an ALB
        shape = draw(st.sampled_from([s for s in HTTP_SHAPES if not (signed and s == "alb")]))
        auth = draw(st.sampled_from(["iam", "jwt"])) if signed else None
        params = binder_for(route).params
        path = spec.path
        query: dict[str, str] = {}
        for param in params:
            if param.kind == "path":
                value = draw(_query_value(param.annotation))
                path = path.replace(f"{{{param.name}}}", quote(value, safe="")).replace(
                    f"{{{param.name}+}}", quote(value, safe="/"))
            elif param.kind == "query" and draw(st.integers(0, 4)):
                query[param.name] = draw(_query_value(param.annotation))
        payload = draw(model_inputs(model))
        if spec.method in ("GET", "HEAD", "OPTIONS"):
            query.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in payload.items()
                          if isinstance(k, str)})
            body: Any = None
        else:
            body = draw(st.sampled_from(["json", "json", "text", "b64", "none", "array"]))
            body = {"json": payload, "text": draw(odd_strings()), "b64": json.dumps(payload).encode(),
                    "none": None, "array": [payload]}[body]
        query = {k: v for k, v in query.items() if isinstance(v, str)}
        return Case(shape, http_event(shape, spec.method, path, body=body, query=query,
                                      binary=isinstance(body, bytes), multi_value=draw(st.booleans()),
                                      auth=auth))
    if isinstance(spec, ActionSpec):
        payload = draw(model_inputs(model))
        payload.pop("action", None)
        if draw(st.integers(0, 3)) == 0:
            queue = env.get("OPSFN_ACTION_QUEUE", "opsfn-actions")
            return Case("action_queue", t.sqs_event([t.invoke_event(spec.name, **payload)], queue))
        return Case("invoke", t.invoke_event(spec.name, **payload))
    if isinstance(spec, CustomResourceSpec):
        request_type = draw(st.sampled_from(["Create", "Update", "Delete"]))
        props = draw(model_inputs(model) | odd_values()) if draw(st.integers(0, 5)) == 0 else \
            draw(model_inputs(model))
        event = t.custom_resource_event(
            request_type, spec.resource_type, {}, response_url="https://cfn.example/answer?sig=x",
            old_properties=draw(model_inputs(model)) if request_type == "Update" else None,
            physical_id=draw(st.none() | st.text(max_size=40)) if request_type != "Create" else None)
        event["ResourceProperties"] = {**props, "ServiceToken": "t"} if isinstance(props, dict) \
            else props
        return Case(f"custom_resource:{request_type}", event)
    if isinstance(spec, S3Spec):
        bucket = env.get(spec.bucket.variable, "unset") if isinstance(spec.bucket, Setting) \
            else spec.bucket
        via = draw(st.sampled_from(VIAS))
        key = draw(s3_keys(spec.prefix, spec.suffix))
        size = draw(st.sampled_from([0, 1, 1024, 2**31, 2**62, -1]))
        stored = [(bucket, key, draw(s3_contents()))] if key and draw(st.booleans()) else []
        return Case(f"s3:{via}", s3_delivery(bucket, key, via, size=size), stored)
    if isinstance(spec, ScheduleSpec):
        event = t.schedule_event(spec.name, scheduler=draw(st.booleans()))
        if draw(st.booleans()):
            event["detail"] = draw(json_values() | odd_strings() | st.just("[" * 5000))
        return Case("schedule", event)
    if isinstance(spec, EventBridgeSpec):
        detail = draw(model_inputs(model))
        detail_type = spec.detail_type or draw(st.text(max_size=20))
        event = t.eventbridge_event(spec.source, detail_type, detail)
        if draw(st.integers(0, 4)) == 0:
            event["detail"] = json.dumps(detail)
        return Case("eventbridge", event)
    if isinstance(spec, SesSpec):
        message_id = draw(st.sampled_from(["o3vrnil0e2ic28trm7dfhrc2v0cnbeccl4nbp0g1",
                                           "fuzz0000000000000001"]) | odd_strings())
        stored = [(env.get("SES_INBOUND_BUCKET", "unset"),
                   env.get("SES_INBOUND_PREFIX", "") + message_id, draw(mail_contents()))] \
            if message_id and draw(st.integers(0, 3)) else []
        event = t.ses_event(message_id, verdicts=draw(ses_verdicts()))
        if draw(st.integers(0, 4)) == 0:
            event["Records"][0]["ses"] = draw(mutate(event["Records"][0]["ses"]))
        return Case("ses", event, stored)
    if isinstance(spec, SqsSpec):
        queue = env.get(spec.queue.variable, "q") if isinstance(spec.queue, Setting) else spec.queue
        return Case("sqs", t.sqs_event([draw(model_inputs(model) | odd_strings())], queue))
    topic = env.get(spec.topic.variable, "t") if isinstance(spec.topic, Setting) else spec.topic
    return Case("sns", t.sns_event(draw(model_inputs(model) | odd_strings()), topic))


# -- the world the routes run against ---------------------------------------------------------
def build_world(root: Path) -> dict[str, str]:
    """Create every resource the built-in routes name (inside an active moto) and return the env.

    Routes then get past their settings and into real work: S3 reads, DynamoDB claims, SNS
    alerts, the SSL directory, the sync source tree.
    """
    from opsfn.services import aws

    s3, ddb, sns, sqs = (aws.client(n) for n in ("s3", "dynamodb", "sns", "sqs"))
    for bucket in ("fuzz-uploads", "fuzz-landing", "fuzz-sync", "fuzz-exports", "fuzz-inbound"):
        s3.create_bucket(Bucket=bucket)
    aws.client("ses").verify_domain_identity(Domain="clinic.example")
    for name, key in (("fuzz-jobs", "jobId"), ("fuzz-locks", "lockId"), ("fuzz-audit", "auditId"),
                      ("fuzz-idem", "id")):
        ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                         AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
                         KeySchema=[{"AttributeName": key, "KeyType": "HASH"}])
    topic = sns.create_topic(Name="fuzz-alerts")["TopicArn"]
    sqs.create_queue(QueueName="fuzz-actions")
    aws.client("rds").create_db_instance(
        DBInstanceIdentifier="fuzz-db", DBInstanceClass="db.t3.micro", Engine="postgres",
        MasterUsername="fuzz", MasterUserPassword="fuzz-password-1", AllocatedStorage=20)
    ecs = aws.client("ecs")
    ecs.create_cluster(clusterName="fuzz")
    ecs.register_task_definition(family="api", containerDefinitions=[
        {"name": "api", "image": "api:1", "memory": 128}])
    ecs.create_service(cluster="fuzz", serviceName="api", taskDefinition="api", desiredCount=1)
    (root / "ssl").mkdir(parents=True, exist_ok=True)
    source = root / "efs"
    (source / "d").mkdir(parents=True, exist_ok=True)
    (source / "a.txt").write_bytes(b"a")
    (source / "d" / "\u00e9 b.txt").write_bytes(b"b" * 100)
    return {
        "UPLOAD_BUCKET": "fuzz-uploads", "TABLE_NAME": "fuzz-jobs",
        "LANDING_BUCKET": "fuzz-landing", "LOCK_TABLE": "fuzz-locks",
        "AUDIT_TABLE": "fuzz-audit", "IDEMPOTENCY_TABLE": "fuzz-idem",
        "ALERT_TOPIC_ARN": topic, "OPSFN_ACTION_QUEUE": "fuzz-actions",
        "GLUE_WORKFLOW_NAME": "fuzz-workflow", "DB_INSTANCE_ID": "fuzz-db",
        "INCIDENT_TARGETS": json.dumps({
            "api": {"kind": "ecs", "cluster": "fuzz", "service": "api"},
            "web": {"kind": "ec2", "instanceIds": ["i-0123456789abcdef0"]},
            "db": {"kind": "rds_instance", "instanceId": "fuzz-db",
                   "ladder": ["db.t3.micro", "db.t3.small"]}}),
        "SSL_DIR": str(root / "ssl"), "SSL_LOCK_WAIT_SECONDS": "0", "SSL_KEY_TYPE": "ecdsa-p256",
        "SES_SMTP_SECRET_ID": "fuzz/smtp", "SES_THROTTLE_ATTEMPTS": "1",
        "SYNC_SOURCE_DIR": str(source), "SYNC_BUCKET": "fuzz-sync",
        "RDS_EXPORT_BUCKET": "fuzz-exports", "RDS_EXPORT_INSTANCE_ID": "fuzz-db",
        "RDS_EXPORT_ROLE_ARN": f"arn:aws:iam::{t.ACCOUNT}:role/export",
        "RDS_EXPORT_KMS_KEY_ID": "alias/fuzz",
        "BACKUP_VAULT_NAME": "fuzz-vault", "BACKUP_ROLE_ARN": f"arn:aws:iam::{t.ACCOUNT}:role/backup",
        "BACKUP_RESOURCE_ARN": f"arn:aws:elasticfilesystem:{t.REGION}:{t.ACCOUNT}:file-system/fs-1",
        "OPSFN_CR_MARGIN_MS": "2000", "SYNC_DEADLINE_MARGIN_MS": "1000",
        "SES_INBOUND_BUCKET": "fuzz-inbound", "SES_INBOUND_PREFIX": "inbound/",
        "SES_FORWARD_FROM": "relay@clinic.example", "SES_FORWARD_TO": "desk@practice.example",
    }


# -- running one event and judging the outcome ------------------------------------------------
# Text that only an unhandled exception puts into a reply.
INTERNAL_MARKERS = (
    "Traceback", 'File "', "KeyError", "TypeError", "AttributeError", "IndexError", "ValueError",
    "RecursionError", "UnicodeEncodeError", "UnicodeDecodeError", "ZeroDivisionError",
    "NameError", "AssertionError", "ClientError", "botocore.", "pydantic_core", "<class '",
    " object at 0x",
)
TIMEOUT_MS = 6_000  # the Lambda deadline each event gets
HANG_S = 30.0  # past this the call is interrupted and reported as a hang
OVERRUN_S = 6.0  # finishing this long after the Lambda deadline is reported too


class Hang(BaseException):
    """Raised into a call that ran past :data:`HANG_S`; not an Exception, so nothing swallows it."""


@contextmanager
def hang_guard(seconds: float) -> Iterator[None]:
    """Interrupt the block after ``seconds`` (SIGALRM), restoring any timer set before."""
    def fire(signum: int, frame: Any) -> None:
        raise Hang(f"no outcome after {seconds:.0f} s")

    previous = signal.signal(signal.SIGALRM, fire)
    before, _ = signal.setitimer(signal.ITIMER_REAL, seconds)
    started = time.monotonic()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if before:
            signal.setitimer(signal.ITIMER_REAL, max(before - (time.monotonic() - started), 0.01))


@dataclass
class Harness:
    """Runs events through an app, capturing custom-resource answers and unexpected exceptions."""

    app: Any
    answers: list[dict[str, Any]] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    outcome: str = ""
    _restore: list[Callable[[], None]] = field(default_factory=list)

    def __enter__(self) -> Harness:
        from opsfn.core import route_call
        from opsfn.core.dispatch import custom_resource

        real_log = route_call.log_unexpected

        def send(url: str, body: bytes, **_: Any) -> tuple[bool, str]:
            answer = json.loads(body)
            answer["_bytes"] = len(body)
            self.answers.append(answer)
            return True, "HTTP 200"

        def log(exc: BaseException, route: str) -> None:
            from opsfn.core.observability import safe_frames

            self.unexpected.append(f"{route}: {type(exc).__name__} at {safe_frames(exc)[-3:]}")
            real_log(exc, route)

        for module, name, value in ((custom_resource, "send_response", send),
                                    (route_call, "log_unexpected", log)):
            original = getattr(module, name)
            setattr(module, name, value)
            self._restore.append(lambda m=module, n=name, o=original: setattr(m, n, o))
        return self

    def __exit__(self, *exc: object) -> None:
        while self._restore:
            self._restore.pop()()

    def store(self, objects: list[tuple[str, str, bytes]]) -> None:
        """Put objects a case needs (a key S3 refuses is simply not stored)."""
        from opsfn.services import aws

        for bucket, key, body in objects:
            try:
                aws.client("s3").put_object(Bucket=bucket, Key=key, Body=body)
            except Exception:  # the event still arrives, with nothing behind it
                continue

    def run(self, event: Any, timeout_ms: int = TIMEOUT_MS) -> list[str]:
        """Send ``event`` to the app like Lambda does; every problem with the outcome."""
        self.answers.clear()
        self.unexpected.clear()
        reply: Any = None
        error: BaseException | None = None
        started = time.monotonic()
        try:
            with hang_guard(HANG_S):
                reply = self.app(event, t.FakeLambdaContext(timeout_ms))
        except Hang as exc:
            self.outcome = "hang"
            return [f"hang: {exc}"]
        except Exception as exc:  # judged below
            error = exc
        elapsed = time.monotonic() - started
        self.outcome = summarise(reply, error, self.answers)
        problems = [f"unexpected exception in route {u}" for u in self.unexpected]
        if elapsed > timeout_ms / 1000 + OVERRUN_S:
            problems.append(f"ran {elapsed:.1f} s, past the {timeout_ms} ms deadline")
        return problems + judge(event, reply, error, self.answers)


def summarise(reply: Any, error: BaseException | None, answers: list[dict[str, Any]]) -> str:
    """A short label of an outcome (``HTTP 400 validation_failed``, ``raised not_found``, ...)."""
    if answers:
        return f"answered {answers[-1].get('Status')}"
    if error is not None:
        return f"raised {getattr(error, 'code', type(error).__name__)}"
    if isinstance(reply, dict) and isinstance(reply.get("statusCode"), int):
        code = ""
        if reply["statusCode"] >= 400:
            try:
                code = " " + str(json.loads(reply.get("body") or "{}").get("error"))
            except (ValueError, AttributeError):
                code = " ?"
        return f"HTTP {reply['statusCode']}{code}"
    if isinstance(reply, dict) and isinstance(reply.get("batchItemFailures"), list):
        return f"sqs {len(reply['batchItemFailures'])} failed"
    return "result"


def _markers(text: str, where: str) -> list[str]:
    return [f"{where} contains {m!r}" for m in INTERNAL_MARKERS if m in text]


def _error_problems(error: OpsfnError, where: str) -> list[str]:
    problems = _markers(error.message, f"{where} message")
    problems += _markers(json.dumps(error.details, default=repr), f"{where} details")
    hidden = error.__context__
    if error.__cause__ is not None or (hidden is not None and not error.__suppress_context__):
        problems.append(f"{where} shows a chained exception")
    if isinstance(error, InternalError):
        from opsfn.core.observability import safe_frames

        cause = f"{type(hidden).__name__} at {safe_frames(hidden)[-3:]}" if hidden else "unknown"
        problems.append(f"{where} is an InternalError hiding {cause}")
    if error.code == "validation_failed" and not all(
            isinstance(d, dict) and isinstance(d.get("loc"), str) for d in error.details):
        problems.append(f"{where}: validation error without field paths")
    return problems


def judge(event: Any, reply: Any, error: BaseException | None, answers: list[dict[str, Any]]
          ) -> list[str]:
    """Problems with an outcome: ``reply`` or ``error`` from the app, answers sent to CloudFormation."""
    if error is not None and not isinstance(error, OpsfnError):
        return [f"{type(error).__name__} escaped lambda_handler"]
    try:
        kind = detect(event).kind
    except Exception as exc:
        if not isinstance(exc, OpsfnError):
            return [f"detect() raised {type(exc).__name__}"]
        if error is None:
            return ["an event detect() rejects got a reply"]
        return _error_problems(error, "UnsupportedEvent")  # type: ignore[arg-type]
    problems: list[str] = []
    if isinstance(error, OpsfnError):
        problems += _error_problems(error, f"{kind} error")
        if kind in HTTP_KINDS or kind in ("sqs", "custom_resource"):
            problems.append(f"{kind} raised {type(error).__name__} instead of replying")
    else:
        try:
            json.dumps(reply, allow_nan=False)
        except (TypeError, ValueError):
            problems.append(f"{kind} reply is not JSON")
    if kind in HTTP_KINDS and error is None:
        problems += _http_problems(kind, event, reply)
    elif kind == "sqs" and error is None:
        problems += _sqs_problems(event, reply)
    if kind == "custom_resource":
        problems += _answer_problems(answers)
    elif answers:
        problems.append(f"{kind} sent a custom resource answer")
    return problems


def _http_problems(kind: str, event: dict[str, Any], reply: Any) -> list[str]:
    if not isinstance(reply, dict) or not isinstance(reply.get("statusCode"), int):
        return ["HTTP reply without an int statusCode"]
    status, body = reply["statusCode"], reply.get("body")
    problems = [] if 100 <= status <= 599 else [f"HTTP status {status}"]
    if not isinstance(body, str):
        return [*problems, "HTTP body is not a string"]
    if kind == "alb":
        if not isinstance(reply.get("statusDescription"), str):
            problems.append("ALB reply without statusDescription")
        headers = reply.get("multiValueHeaders") if isinstance(event.get("multiValueHeaders"), dict) \
            else reply.get("headers")
    else:
        headers = reply.get("headers")
    if not isinstance(headers, dict):
        problems.append("HTTP reply without headers")
    problems += _markers(body, "HTTP body")
    if status >= 400:
        try:
            data = json.loads(body)
        except ValueError:
            return [*problems, f"HTTP {status} body is not JSON"]
        code = data.get("error") if isinstance(data, dict) else None
        if not isinstance(code, str) or not isinstance(data.get("message"), str):
            problems.append(f"HTTP {status} body lacks error and message")
        if code == "internal_error":
            problems.append("HTTP 500 internal_error (a bug was hidden behind it)")
        if code == "validation_failed" and (status != 400 or not data.get("details") or not all(
                isinstance(d, dict) and isinstance(d.get("loc"), str) for d in data["details"])):
            problems.append("HTTP validation error without 400 and field paths")
    return problems


def _sqs_problems(event: dict[str, Any], reply: Any) -> list[str]:
    if not isinstance(reply, dict) or set(reply) != {"batchItemFailures"} or not isinstance(
            reply["batchItemFailures"], list):
        return ["SQS reply is not {batchItemFailures: [...]}"]
    ids = {r.get("messageId") for r in event["Records"]
           if isinstance(r, dict) and isinstance(r.get("messageId"), str)} | {""}
    problems = []
    for item in reply["batchItemFailures"]:
        if not isinstance(item, dict) or set(item) != {"itemIdentifier"} or not isinstance(
                item["itemIdentifier"], str):
            problems.append("SQS failure item is not {itemIdentifier: str}")
        elif item["itemIdentifier"] not in ids:
            problems.append("SQS failure names a message that is not in the batch")
    if len(reply["batchItemFailures"]) > len(event["Records"]):
        problems.append("more SQS failures than records")
    return problems


def _answer_problems(answers: list[dict[str, Any]]) -> list[str]:
    if len(answers) != 1:
        return [f"custom resource answered {len(answers)} times"]
    answer = answers[0]
    problems = []
    if answer.get("Status") not in ("SUCCESS", "FAILED"):
        problems.append("custom resource answer Status is not SUCCESS/FAILED")
    reason = answer.get("Reason")
    if not isinstance(reason, str) or not reason:
        problems.append("custom resource answer without a Reason")
    else:
        problems += _markers(reason, "custom resource Reason")
        if answer.get("Status") == "FAILED" and "internal error" in reason:
            problems.append("custom resource FAILED with internal error (a bug was hidden)")
    physical = answer.get("PhysicalResourceId")
    if not isinstance(physical, str) or not physical:
        problems.append("custom resource answer without a PhysicalResourceId")
    # Ids are echoed verbatim; CloudFormation's own never come near the limit, fuzzed ones may.
    echoed = len(json.dumps([answer.get(k) for k in (
        "StackId", "RequestId", "LogicalResourceId", "PhysicalResourceId")]))
    if answer["_bytes"] > 4096 and echoed < 3000:
        big = sorted((len(json.dumps(v)), k) for k, v in answer.items() if k != "_bytes")[-1][1]
        problems.append(f"custom resource answer of {answer['_bytes']} bytes (largest: {big})")
    return problems


def describe(event: Any, limit: int = 300) -> str:
    """A short, printable rendering of an event for failure reports."""
    text = json.dumps(event, default=repr, ensure_ascii=True)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} chars)"

