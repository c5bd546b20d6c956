"""Detection over realistic event shapes of every served kind and of sources opsfn does not serve."""

from __future__ import annotations

import json
from typing import Any

import pytest

from opsfn import testing as t
from opsfn.errors import UnsupportedEvent
from opsfn.events import KINDS, detect

SERVED: list[tuple[str, dict[str, Any]]] = [
    ("http_v1", t.http_v1_event("GET", "/health")),
    ("http_v1", t.http_v1_event("POST", "/items/1", body={"a": 1}, resource="/items/{id}",
                                path_params={"id": "1"})),
    ("http_v1", {  # HTTP API with payload format 1.0 looks like REST and carries version 1.0
        **t.http_v1_event("GET", "/x"), "version": "1.0"}),
    ("http_v2", t.http_v2_event("GET", "/health")),
    ("http_v2", t.http_v2_event("POST", "/a/b", body="x", route_key="POST /a/b")),
    ("function_url", t.function_url_event("GET", "/")),
    ("alb", t.alb_event("GET", "/health")),
    ("alb", t.alb_event("POST", "/x", multi_value=True, body={"a": 1})),
    ("s3", t.s3_event("bucket", "uploads/a b.jpg")),
    ("s3", t.s3_event("bucket", ["k1", "k2", "k3"])),
    ("s3", t.s3_test_event("bucket")),
    ("s3_eventbridge", t.s3_eventbridge_event("bucket", "k")),
    ("s3_eventbridge", t.s3_eventbridge_event("bucket", "k", detail_type="Object Deleted",
                                              reason="DeleteObject")),
    ("sqs", t.sqs_event(["plain text", {"json": True}])),
    ("sqs", t.sqs_event([t.s3_event("b", "k")])),
    ("sqs", t.sqs_event([t.sns_envelope(t.s3_event("b", "k"))])),
    ("sns", t.sns_event("hello")),
    ("sns", t.sns_event(t.s3_event("b", "k"))),
    ("schedule", t.schedule_event("tick")),
    ("schedule", t.schedule_event("tick", scheduler=True)),
    ("eventbridge", t.eventbridge_event("aws.glue", "Glue Job State Change", {"state": "FAILED"})),
    ("eventbridge", t.eventbridge_event("my.app", "Thing Happened", {})),
    ("custom_resource", t.custom_resource_event("Create", "Custom::X", {}, response_url="https://x")),
    ("custom_resource", t.custom_resource_event("Delete", "Custom::X", {}, response_url="https://x",
                                                physical_id="p")),
    ("ses", t.ses_event("o3vrnil0e2ic28trm7dfhrc2v0cnbeccl4nbp0g1")),
    ("ses", t.ses_event(["m1", "m2"], verdicts={"spam": "FAIL"})),
    ("ses", {"Records": [{"eventSource": "aws:ses", "eventVersion": "1.0",  # the bare minimum
                          "ses": {"mail": {"messageId": "m"}, "receipt": {}}}]}),
    ("invoke", {"action": "health"}),
    ("invoke", {"action": "sync_efs_to_s3", "version": "1.0", "detail": "x"}),
]

UNSUPPORTED: dict[str, Any] = {
    "dynamodb_stream": {"Records": [{"eventID": "1", "eventName": "INSERT", "eventVersion": "1.1",
                                     "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
                                     "dynamodb": {"Keys": {"Id": {"N": "1"}}}}]},
    "kinesis": {"Records": [{"kinesis": {"data": "SGVsbG8="}, "eventSource": "aws:kinesis",
                             "eventID": "shardId-000:1", "eventVersion": "1.0"}]},
    "codecommit": {"Records": [{"eventSource": "aws:codecommit", "eventName": "ReferenceChanges",
                                "codecommit": {"references": []}}]},
    "cloudfront": {"Records": [{"cf": {"config": {"distributionId": "EDFD"}, "request": {}}}]},
    "cognito": {"version": "1", "triggerSource": "PreSignUp_SignUp", "region": "us-east-1",
                "userPoolId": "p", "userName": "u", "request": {}, "response": {}},
    "lex": {"messageVersion": "1.0", "invocationSource": "FulfillmentCodeHook",
            "currentIntent": {"name": "x"}, "bot": {"name": "b"}},
    "alexa": {"version": "1.0", "session": {"new": True}, "context": {},
              "request": {"type": "LaunchRequest"}},
    "config": {"version": "1.0", "invokingEvent": "{}", "ruleParameters": "{}",
               "resultToken": "t", "eventLeftScope": False, "configRuleName": "r"},
    "rest_token_authorizer": {"type": "TOKEN", "authorizationToken": "allow",
                              "methodArn": "arn:aws:execute-api:us-east-1:1:a/prod/GET/"},
    "rest_request_authorizer": {**t.http_v1_event("GET", "/x"), "type": "REQUEST",
                                "methodArn": "arn:aws:execute-api:us-east-1:1:a/prod/GET/x"},
    "http_api_authorizer": {**t.http_v2_event("GET", "/x"), "type": "REQUEST",
                            "routeArn": "arn:aws:execute-api:us-east-1:1:a/$default/GET/x",
                            "identitySource": ["t"]},
    "websocket": {"requestContext": {"routeKey": "$connect", "eventType": "CONNECT",
                                     "connectionId": "c"}, "isBase64Encoded": False},
    "cdk_trigger": {},
    "unknown_dict": {"hello": "world"},
    "mixed_records": {"Records": [t.s3_record("b", "k"), t.sqs_record("x")]},
    "ses_mixed_with_s3": {"Records": [t.ses_record("m"), t.s3_record("b", "k")]},
    "empty_records": {"Records": []},
    "records_not_list": {"Records": {"a": 1}},
    "record_not_object": {"Records": ["x"]},
    "action_not_string": {"action": 5},
    "bad_request_type": {"RequestType": "Explode", "ResponseURL": "https://x", "ResourceType": "C"},
    "eventbridge_wrong_types": {"source": 1, "detail-type": [], "detail": {}},
}


@pytest.mark.parametrize(("kind", "event"), SERVED, ids=[f"{k}-{i}" for i, (k, _) in
                                                           enumerate(SERVED)])
def test_served_events_are_detected(kind: str, event: dict[str, Any]) -> None:
    detected = detect(event)
    assert detected.kind == kind
    assert detected.event is event


def test_every_kind_is_covered() -> None:
    assert {kind for kind, _ in SERVED} == set(KINDS)


@pytest.mark.parametrize("name", sorted(UNSUPPORTED))
def test_unsupported_sources_raise_typed_error_naming_keys(name: str) -> None:
    event = UNSUPPORTED[name]
    with pytest.raises(UnsupportedEvent) as info:
        detect(event)
    message = info.value.message
    if event:
        assert sorted(event)[0] in message
    else:
        assert "empty" in message


@pytest.mark.parametrize("value", [None, [], [1, 2], "text", 3, 2.5, True, b"bytes", ["Records"]])
def test_non_objects_raise_unsupported(value: Any) -> None:
    with pytest.raises(UnsupportedEvent) as info:
        detect(value)
    assert "not a JSON object" in info.value.message


def test_messages_never_contain_values() -> None:
    secret = "Patient^Jane-1970-01-01"
    events = [
        {"name": secret},
        {"Records": [{"eventSource": secret}]},
        {"requestContext": {"x": secret}, secret[:5]: 1},
        {"action": {"nested": secret}},
    ]
    for event in events:
        with pytest.raises(UnsupportedEvent) as info:
            detect(event)
        assert secret not in info.value.message


def test_many_keys_are_bounded() -> None:
    event = {f"key{i:03d}": i for i in range(100)}
    with pytest.raises(UnsupportedEvent) as info:
        detect(event)
    assert "and 88 more" in info.value.message
    assert len(info.value.message) < 400


def test_scheduler_string_detail_round_trips_through_json() -> None:
    event = json.loads(json.dumps(t.schedule_event("x", scheduler=True)))
    assert event["detail"] == "{}"
    assert detect(event).kind == "schedule"


def test_envelopes_are_hashable_only_when_every_field_is() -> None:
    """A dataclass declared hashable with a dict field raises TypeError on hash(); none does."""
    import dataclasses

    from opsfn.events import (
        CustomResourceRequest,
        EventBridgeEvent,
        S3Object,
        ScheduleEvent,
        SnsMessage,
        SqsMessage,
    )
    from opsfn.events.detect import Detected

    for cls in (CustomResourceRequest, EventBridgeEvent, S3Object, ScheduleEvent, SnsMessage,
                SqsMessage, Detected):
        holds_container = any("dict" in str(f.type) or "list" in str(f.type)
                              for f in dataclasses.fields(cls))
        if holds_container:
            assert cls.__hash__ is None, cls.__name__
        else:
            assert cls.__hash__ is not None, cls.__name__
    obj = S3Object(bucket="b", key="k", event_name="ObjectCreated:Put")
    assert hash(obj) == hash(S3Object(bucket="b", key="k", event_name="ObjectCreated:Put"))
