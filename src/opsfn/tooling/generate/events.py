"""SAM events of the function, one per route trigger, from the routes' declarations.

How each kind of trigger is wired (which HTTP API, the EventBridge retry policy and dead-letter
queue, the schedule group and its role, the action queue) is the base template's ``opsfn``
metadata; which triggers exist is the routes'. Custom resources and SES receipt rules are
resources of their own in the base: a route answers them, nothing is added to the function.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from opsfn.core.router import (
    ActionSpec,
    EventBridgeSpec,
    HttpSpec,
    Route,
    S3Spec,
    ScheduleSpec,
    Setting,
    SnsSpec,
    SqsSpec,
)
from opsfn.tooling.generate.iam import Namer
from opsfn.tooling.template_reader import S3_DETAIL_TYPES

_AUTHORIZER = {"public": "NONE", "iam": "AWS_IAM", "jwt": "JwtAuthorizer"}


def camel(text: str) -> str:
    """``rotate-ssl-materials`` and ``on_upload`` as ``RotateSslMaterials`` and ``OnUpload``."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", text) if part)


def http_event_name(spec: HttpSpec) -> str:
    """``Http`` + method + path words (a first word repeating the method is left out)."""
    words = [w for w in re.split(r"[^A-Za-z0-9]+", spec.path) if w]
    if words and words[0].lower() == spec.method.lower():
        words = words[1:]
    return "Http" + spec.method.title() + "".join(camel(w) for w in words)


def _http(spec: HttpSpec, wiring: Mapping[str, Any]) -> dict[str, Any]:
    props: dict[str, Any] = {"ApiId": {"Ref": wiring["api"]}, "Method": spec.method,
                             "Path": spec.path}
    if spec.auth != "default":
        props["Auth"] = {"Authorizer": _AUTHORIZER[spec.auth]}
    return {"Type": "HttpApi", "Properties": props}


def _rule(pattern: dict[str, Any], wiring: Mapping[str, Any]) -> dict[str, Any]:
    props: dict[str, Any] = {"Pattern": pattern}
    if "retry" in wiring:
        props["RetryPolicy"] = wiring["retry"]
    if "dead_letter" in wiring:
        props["DeadLetterConfig"] = {"Arn": {"Fn::GetAtt": [wiring["dead_letter"], "Arn"]}}
    return {"Type": "EventBridgeRule", "Properties": props}


def _name(value: str | Setting, namer: Namer) -> Any:
    if isinstance(value, Setting):
        return namer.source(value.variable).value
    return value


def _s3(spec: S3Spec, wiring: Mapping[str, Any], namer: Namer) -> dict[str, Any]:
    detail: dict[str, Any] = {"bucket": {"name": [_name(spec.bucket, namer)]}}
    key: dict[str, str] = {}
    if spec.prefix:
        key["prefix"] = spec.prefix
    if spec.suffix:
        key["suffix"] = spec.suffix
    if key:
        detail["object"] = {"key": [key] if len(key) == 1 else [{"wildcard": f"{spec.prefix}*{spec.suffix}"}]}
    types = sorted({S3_DETAIL_TYPES[e.split(":", 1)[0]] for e in spec.events
                    if e.split(":", 1)[0] in S3_DETAIL_TYPES})
    return _rule({"source": ["aws.s3"], "detail-type": types, "detail": detail}, wiring)


def _schedule(spec: ScheduleSpec, wiring: Mapping[str, Any]) -> dict[str, Any]:
    if spec.expression is None:
        raise ValueError(f"schedule {spec.name} has no expression: the template needs one")
    props: dict[str, Any] = {"Name": spec.name, "ScheduleExpression": spec.expression}
    if "group" in wiring:  # a group of the stack's own: the names are the routes' names
        props["GroupName"] = {"Ref": wiring["group"]}
    enabled_when = (wiring.get("enabled_when") or {}).get(spec.name)
    props["State"] = ("ENABLED" if enabled_when is None
                      else {"Fn::If": [enabled_when, "ENABLED", "DISABLED"]})
    if "role" in wiring:  # else SAM makes one that may invoke only this function
        props["RoleArn"] = {"Fn::GetAtt": [wiring["role"], "Arn"]}
    if "retry" in wiring:
        props["RetryPolicy"] = wiring["retry"]
    if "dead_letter" in wiring:
        props["DeadLetterConfig"] = {"Arn": {"Fn::GetAtt": [wiring["dead_letter"], "Arn"]}}
    return {"Type": "ScheduleV2", "Properties": props}


def events(routes: Iterable[Route], wiring: Mapping[str, Any], namer: Namer) -> dict[str, Any]:
    """The function's ``Events``, in route order (the action queue's mapping last)."""
    found: dict[str, Any] = {}
    queued = False

    def add(name: str, event: dict[str, Any]) -> None:
        if name in found:
            raise ValueError(f"two routes make the event {name}: rename one")
        found[name] = event

    for route in routes:
        spec = route.spec
        if isinstance(spec, HttpSpec):
            add(http_event_name(spec), _http(spec, wiring["http"]))
        elif isinstance(spec, S3Spec):
            add(camel(route.func.__name__), _s3(spec, wiring.get("rules", {}), namer))
        elif isinstance(spec, ScheduleSpec):
            add(camel(spec.name), _schedule(spec, wiring.get("schedules", {})))
        elif isinstance(spec, EventBridgeSpec):
            pattern: dict[str, Any] = {"source": [spec.source]}
            if spec.detail_type:
                pattern["detail-type"] = [spec.detail_type]
            add(camel(spec.detail_type or spec.source), _rule(pattern, wiring.get("rules", {})))
        elif isinstance(spec, SqsSpec):
            add(camel(route.func.__name__), {"Type": "SQS", "Properties": {
                "Queue": namer.source(spec.queue.variable).arn if isinstance(spec.queue, Setting)
                else spec.queue, "FunctionResponseTypes": ["ReportBatchItemFailures"]}})
        elif isinstance(spec, SnsSpec):
            add(camel(route.func.__name__), {"Type": "SNS", "Properties": {
                "Topic": _name(spec.topic, namer)}})
        elif isinstance(spec, ActionSpec) and spec.queue:
            queued = True
    if queued:
        queue = wiring["action_queue"]
        props: dict[str, Any] = {"Queue": {"Fn::GetAtt": [queue["queue"], "Arn"]},
                                 "BatchSize": queue.get("batch_size", 1),
                                 "FunctionResponseTypes": ["ReportBatchItemFailures"]}
        if "maximum_concurrency" in queue:
            props["ScalingConfig"] = {"MaximumConcurrency": queue["maximum_concurrency"]}
        add("ActionQueueMessages", {"Type": "SQS", "Properties": props})
    return found
