"""What the registry can say about itself: route tables, input schemas, OpenAPI, explanations.

Used by the CLI and the README generator; nothing here runs a route.
"""

from __future__ import annotations

import inspect
import typing
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, TypeAdapter

from opsfn.core.binding import binder_for
from opsfn.core.dispatch.http import find_route
from opsfn.core.dispatch.invoke import find_action
from opsfn.core.paths import template_params
from opsfn.core.router import ActionSpec, HttpSpec, Route, S3Spec
from opsfn.core.text import text_constraint
from opsfn.errors import OpsfnError
from opsfn.events import detect
from opsfn.events import s3 as s3_events
from opsfn.events.eventbridge import parse_event, schedule_name
from opsfn.events.http import Response, parse_request
from opsfn.events.sqs import parse_record

if TYPE_CHECKING:
    from opsfn.core.app import App


def input_model(route: Route) -> Any:
    """The pydantic model a route validates its payload with, or None."""
    for param in binder_for(route).params:
        if param.kind == "model":
            return param.annotation
    return None


def route_auth(route: Route) -> str:
    """Who may call an HTTP route (``public``, ``iam``, ``jwt``, ``default``); ``-`` otherwise."""
    return route.spec.auth if isinstance(route.spec, HttpSpec) else "-"


def route_rows(app: App) -> list[dict[str, str]]:
    """One row per route: source, key, auth, handler, input model."""
    rows = []
    for route in sorted(app.registry.routes, key=lambda r: (r.source, r.label)):
        model = input_model(route)
        rows.append({
            "source": route.source,
            "key": route.label,
            "auth": route_auth(route),
            "handler": route.handler_name,
            "input": model.__name__ if model is not None else "-",
        })
    return rows


SECURITY_SCHEMES = {
    "sigv4": {"type": "apiKey", "name": "Authorization", "in": "header",
              "description": "AWS Signature Version 4 (the HTTP API's IAM authorization)",
              "x-amazon-apigateway-authtype": "awsSigv4"},
    "jwt": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
            "description": "A JWT the HTTP API's JWT authorizer accepts (issuer and audience "
                           "are template parameters)"},
}
_SCHEME_OF = {"iam": "sigv4", "jwt": "jwt"}


def security_requirement(auth: str, default: str | None) -> list[dict[str, list[str]]]:
    """OpenAPI ``security`` of an operation: none when public, else the schemes that pass."""
    if auth == "public":
        return []
    if auth == "default":
        kinds = [default] if default else ["iam", "jwt"]
        return [{_SCHEME_OF[kind]: []} for kind in kinds]
    return [{_SCHEME_OF[auth]: []}]


def markdown_table(rows: list[dict[str, str]]) -> str:
    """Rows as a Markdown table (column order of the first row)."""
    if not rows:
        return ""
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(f"`{row[c]}`" if row[c] != "-" else "-" for c in columns)
                     + " |")
    return "\n".join(lines)


def action_schemas(app: App, name: str | None = None) -> dict[str, Any]:
    """JSON Schema of each action's input (``{}`` for actions without a model)."""
    schemas: dict[str, Any] = {}
    for action, route in sorted(app.registry.actions.items()):
        if name is not None and action != name:
            continue
        model = input_model(route)
        schemas[action] = model.model_json_schema() if model is not None else {"type": "object"}
    if name is not None and not schemas:
        raise OpsfnError(f"unknown action {name!r}")
    return schemas


# Every status an HTTP operation can answer besides its own success, as opsfn.errors and the
# HTTP dispatcher shape them (the README's error table).
ERROR_STATUSES = {
    "400": "The request does not match the operation (validation_failed: details name the field "
           "paths) or is no HTTP request opsfn reads (unsupported_event)",
    "404": "No such item (not_found)",
    "405": "The path exists for other methods, listed in Allow (method_not_allowed)",
    "409": "A lock is held or the state moved on; try later (conflict)",
    "413": "The body is larger than OPSFN_MAX_BODY_BYTES (payload_too_large)",
    "422": "The content itself is unusable (invalid_content)",
    "500": "A setting is missing or invalid, or the route failed (missing_setting, "
           "invalid_setting, internal_error)",
    "502": "An AWS call failed (upstream_error)",
    "504": "Work stopped before the Lambda deadline and can resume (deadline_exceeded)",
}
_BODY_METHODS = ("POST", "PUT", "PATCH", "DELETE")
ERROR_SCHEMAS = {
    "Error": {"type": "object", "required": ["error", "message"], "additionalProperties": False,
              "properties": {"error": {"type": "string", "description": "stable code"},
                             "message": {"type": "string"},
                             "details": {"type": "array", "items": {"type": "object"}}}},
    "ValidationError": {
        "type": "object", "required": ["error", "message"], "additionalProperties": False,
        "properties": {
            "error": {"enum": ["validation_failed", "unsupported_event"]},
            "message": {"type": "string"},
            "details": {"type": "array", "items": {
                "type": "object", "required": ["loc", "msg", "type"],
                "properties": {"loc": {"type": "string", "description": "field path: body.x, "
                                                                         "query.x, path.x"},
                               "msg": {"type": "string"}, "type": {"type": "string"}}}}}},
}


UNAUTHORIZED = "No caller of the kind the route requires (unauthorized)"


def _error_response(status: str) -> dict[str, Any]:
    """One error status: its meaning, the body opsfn.errors gives it, ``Allow`` on a 405."""
    name = "ValidationError" if status == "400" else "Error"
    response: dict[str, Any] = {"description": ERROR_STATUSES.get(status, UNAUTHORIZED),
                                "content": {"application/json": {"schema": {
                                    "$ref": f"#/components/schemas/{name}"}}}}
    if status == "405":
        response["headers"] = {"Allow": {"required": True, "schema": {"type": "string"},
                                         "description": "the methods the path serves"}}
    return response


def _model_schema(model: Any, components: dict[str, Any], mode: str = "validation"
                  ) -> dict[str, Any]:
    """A $ref to ``model``'s JSON Schema, added to ``components`` with its definitions."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}", mode=mode)
    components.update(schema.pop("$defs", {}))
    name = model.__name__
    if components.get(name, schema) != schema:  # the same model read and written differently
        name += "Output"
    components[name] = schema
    return {"$ref": f"#/components/schemas/{name}"}


def _success(route: Route, components: dict[str, Any]) -> dict[str, Any]:
    """The success reply the route's return annotation promises (None: 204; a Response: any
    2xx it builds; a model: its schema; anything else: JSON)."""
    returned = typing.get_type_hints(route.func).get("return", Any)
    if returned is type(None):
        return {"204": {"description": "Done, no body"}}
    if returned is Response:
        return {"2XX": {"description": "The status and body the route chooses"}}
    schema: dict[str, Any] = {}
    if isinstance(returned, type) and issubclass(returned, BaseModel):
        schema = _model_schema(returned, components, mode="serialization")
    elif (typing.get_origin(returned) or returned) is dict:
        schema = {"type": "object"}
    return {"200": {"description": "OK", "content": {"application/json": {"schema": schema}}}}


def _query_schema(annotation: Any) -> dict[str, Any]:
    """What a query parameter of this type accepts (text, as the binder validates it)."""
    if annotation in (str, Any, inspect.Parameter.empty):
        return {"type": "string"}
    text = text_constraint(annotation)
    if text is not None:
        return text.json_schema()
    schema: dict[str, Any] = TypeAdapter(annotation).json_schema()
    choices = [c for c in schema.get("anyOf", []) if c != {"type": "null"}]
    if len(choices) == 1:  # X | None: an absent parameter is the None
        schema = {**{k: v for k, v in schema.items() if k != "anyOf"}, **choices[0]}
    return schema


def _parameters(route: Route, spec: HttpSpec, model: Any, components: dict[str, Any]
                ) -> list[dict[str, Any]]:
    """Path and query parameters, each with the schema its binding enforces."""
    binder = binder_for(route)
    hints = {p.name: p.annotation for p in binder.params}
    parameters = [{"name": n, "in": "path", "required": True,
                   "schema": _query_schema(hints.get(n, str))}
                  for n in template_params(spec.path)]
    for param in binder.params:
        if param.kind == "query":
            parameters.append({"name": param.name, "in": "query",
                               "required": param.default is inspect.Parameter.empty,
                               "schema": _query_schema(param.annotation)})
    if model is not None and spec.method not in _BODY_METHODS:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(schema.pop("$defs", {}))
        for field_name, field in model.model_fields.items():
            name = field.alias or field_name
            parameters.append({"name": name, "in": "query", "required": field.is_required(),
                               "schema": schema.get("properties", {}).get(name,
                                                                          {"type": "string"})})
    return parameters


def openapi(app: App, version: str, default_auth: str | None = None) -> dict[str, Any]:
    """An OpenAPI 3.1 document of the HTTP routes: each operation's parameters and body as its
    bindings validate them, its security scheme, and every status and body it can answer."""
    paths: dict[str, Any] = {}
    components: dict[str, Any] = {}
    for route in app.registry.routes:
        if not isinstance(route.spec, HttpSpec):
            continue
        spec = route.spec
        model = input_model(route)  # resolves a manifest route's function
        responses = _success(route, components)
        statuses = [*ERROR_STATUSES, *([] if spec.auth == "public" else ["401"])]
        responses.update({status: _error_response(status) for status in sorted(statuses)})
        operation: dict[str, Any] = {
            "operationId": route.func.__name__ + "_" + spec.method.lower(),
            "summary": (route.func.__doc__ or "").strip().split("\n")[0],
            "responses": responses,
            "security": security_requirement(spec.auth, default_auth),
        }
        parameters = _parameters(route, spec, model, components)
        if model is not None and spec.method in _BODY_METHODS:
            operation["requestBody"] = {"required": True, "content": {"application/json": {
                "schema": _model_schema(model, components)}}}
        if parameters:
            operation["parameters"] = parameters
        paths.setdefault(spec.path.replace("+}", "}"), {})[spec.method.lower()] = operation
    components.update(ERROR_SCHEMAS)
    return {"openapi": "3.1.0", "info": {"title": "opsfn", "version": version},
            "paths": paths, "components": {"schemas": components,
                                           "securitySchemes": SECURITY_SCHEMES}}


def _s3_targets(app: App, objects: list[s3_events.S3Object]) -> list[str]:
    lines = []
    for obj in objects:
        routes = app.registry.s3.get(obj.bucket)
        matched = [r for r in routes if isinstance(r.spec, S3Spec)
                   and obj.key.startswith(r.spec.prefix) and obj.key.endswith(r.spec.suffix)
                   and any(s3_events.event_matches(p, obj.event_name) for p in r.spec.events)]
        if not routes:
            lines.append(f"  object in bucket {obj.bucket}: no S3 route for this bucket")
        elif not matched:
            lines.append(f"  object in bucket {obj.bucket}: ignored (no prefix/suffix/event match)")
        for route in matched:
            lines.append(f"  object in bucket {obj.bucket}: {route.label} -> {route.handler_name}")
    return lines


def _route_line(route: Route | None, missing: str) -> list[str]:
    return [f"route: {route.label} -> {route.handler_name}" if route else f"route: none ({missing})"]


def _explain_http(app: App, kind: str, event: dict[str, Any]) -> list[str]:
    return _route_line(find_route(app.registry, parse_request(kind, event, 1 << 30)), "")


def _explain_invoke(app: App, kind: str, event: dict[str, Any]) -> list[str]:
    return _route_line(find_action(app.registry, str(event["action"])), "")


def _explain_s3(app: App, kind: str, event: dict[str, Any]) -> list[str]:
    objects = s3_events.objects_in(event, kind) or []
    return [f"objects: {len(objects)}", *_s3_targets(app, objects)]


def _explain_sqs_message(app: App, record: Any) -> list[str]:
    message = parse_record(record)
    if message is None:
        return ["  record: malformed (would be reported failed)"]
    body = message.json()
    if isinstance(body, dict) and isinstance(body.get("action"), str):
        route = app.registry.actions.get(body["action"])
        queue_ok = route is not None and isinstance(route.spec, ActionSpec) and route.spec.queue
        reach = "queue-enabled" if queue_ok else "not reachable from queues"
        return [f"  message on {message.queue}: action {body['action']!r} ({reach}; "
                "only from the action queue)"]
    if app.registry.sqs.get(message.queue):
        return [f"  message on {message.queue}: sqs route"]
    objects = s3_events.objects_in(body, "sqs")
    if objects is not None:
        return _s3_targets(app, objects)
    return [f"  message on {message.queue}: SNS envelope or no route"]


def _explain_sqs(app: App, kind: str, event: dict[str, Any]) -> list[str]:
    return [line for record in event["Records"] for line in _explain_sqs_message(app, record)]


def _explain_schedule(app: App, kind: str, event: dict[str, Any]) -> list[str]:
    name = schedule_name(parse_event(event))
    return _route_line(app.registry.schedules.get(name or ""), f"no schedule named {name!r}")


def _explain_eventbridge(app: App, kind: str, event: dict[str, Any]) -> list[str]:
    parsed = parse_event(event)
    return _route_line(app.registry.eventbridge_route(parsed.source, parsed.detail_type),
                       "no rule for this source and detail-type")


def _explain_custom_resource(app: App, kind: str, event: dict[str, Any]) -> list[str]:
    return _route_line(app.registry.custom_resources.get(str(event.get("ResourceType"))),
                       "FAILED on Create/Update, SUCCESS on Delete")


def _explain_sns(app: App, kind: str, event: dict[str, Any]) -> list[str]:
    return ["route: the topic's SNS route, or S3 routes for wrapped S3 notifications"]


def _explain_ses(app: App, kind: str, event: dict[str, Any]) -> list[str]:
    routes = app.registry.ses
    if not routes:
        return ["route: none (no SES route)"]
    return [f"messages: {len(event['Records'])}",
            *(f"route: {route.label} -> {route.handler_name}" for route in routes)]


_EXPLAINERS = {
    "http_v1": _explain_http, "http_v2": _explain_http, "function_url": _explain_http,
    "alb": _explain_http, "invoke": _explain_invoke, "s3": _explain_s3,
    "s3_eventbridge": _explain_s3, "sqs": _explain_sqs, "sns": _explain_sns,
    "schedule": _explain_schedule, "eventbridge": _explain_eventbridge,
    "custom_resource": _explain_custom_resource, "ses": _explain_ses,
}


def explain(app: App, event: Any) -> list[str]:
    """Lines saying which kind the event is and which route(s) would run, or why none would."""
    try:
        if isinstance(event, dict) and not event:
            event = app.empty_event()  # {"action": OPSFN_EMPTY_EVENT_ACTION} when that is set
        detected = detect(event)
    except OpsfnError as error:
        return [f"kind: none ({error.message})"]
    lines = [f"kind: {detected.kind}"]
    try:
        lines += _EXPLAINERS[detected.kind](app, detected.kind, detected.event)
    except OpsfnError as error:
        lines.append(f"route: none ({error.message})")
    return lines


# -- SECURITY.md's reach table ----------------------------------------------------------------------
_HOW = {
    "http": "method and path (`core/dispatch/http.py`); otherwise 404, or 405 with `Allow`; then "
            "the route's declared auth: without a caller of that kind, 401 before any work "
            "(`core/auth.py`)",
    "invoke": "exact registered name, via a dict lookup (`core/dispatch/invoke.py::find_action`); "
              "no import paths, no eval",
    "action_queue": "the message's `action`; any other action is refused with `NotExposed`; S3 or "
                    "SNS payloads on this queue are not unwrapped "
                    "(`core/dispatch/records.py::handle_sqs_message`)",
    "sqs": "the queue's name (`core/dispatch/records.py`)",
    "sns": "the topic's name (`core/dispatch/records.py::handle_sns_message`)",
    "s3": "bucket, prefix, suffix and event name (`core/dispatch/records.py::run_s3_object`)",
    "schedule": "the rule or schedule name taken from the ARN, with `OPSFN_SCHEDULE_PREFIX` "
                "stripped (`core/dispatch/events.py`)",
    "eventbridge": "source and detail-type",
    "custom_resource": "`ResourceType`",
    "ses": "every `@router.ses()` route gets every record: the event names no rule "
           "(`core/dispatch/ses.py`); SES records are never unwrapped from SQS, SNS or EventBridge",
}


def _names(labels: list[str], none: str) -> str:
    return ", ".join(f"`{label}`" for label in sorted(labels)) if labels else none


def reach_rows(app: App) -> list[tuple[str, str, str]]:
    """(event kind, what it can reach, how the route is chosen), from the registry."""
    routes = app.registry.routes
    by_source: dict[str, list[Route]] = {}
    for route in routes:
        by_source.setdefault(route.source, []).append(route)
    who = {"public": "anyone", "iam": "IAM", "jwt": "JWT", "default": "the default authorizer"}
    http = sorted(f"`{r.label}` ({who[route_auth(r)]})" for r in by_source.get("http", []))
    actions = by_source.get("action", [])
    queued = [r.spec.name for r in actions if isinstance(r.spec, ActionSpec) and r.spec.queue]
    s3 = [r.label for r in by_source.get("s3", [])]
    labels = {source: [r.label for r in by_source.get(source, [])]
              for source in ("sqs", "sns", "schedule", "eventbridge", "custom_resource", "ses")}
    wrapped = "S3 routes (through wrapped S3 notifications)"
    return [
        ("`http_v1`, `http_v2`, `function_url`, `alb`",
         f"the {len(http)} HTTP routes only, each with who may call it: "
         f"{', '.join(http) if http else 'none'}",
         _HOW["http"]),
        ('`invoke` (`{"action": NAME, ...}`)', f"all {len(actions)} actions", _HOW["invoke"]),
        ("SQS, from the queue named by `OPSFN_ACTION_QUEUE`",
         f"only actions declared `queue=True`: {_names(queued, 'none')}", _HOW["action_queue"]),
        ("SQS, any other queue",
         f"{wrapped[:-1]}, EventBridge S3 events or SNS envelopes) and `@router.sqs` routes: "
         f"{_names(labels['sqs'], 'none are declared')}", _HOW["sqs"]),
        ("`sns`", f"{wrapped} and `@router.sns` routes: {_names(labels['sns'], 'none are declared')}",
         _HOW["sns"]),
        ("`s3`, `s3_eventbridge`", _names(s3, "none"), _HOW["s3"]),
        ("`schedule`", f"the {len(labels['schedule'])} schedules: "
                       f"{_names(labels['schedule'], 'none')}", _HOW["schedule"]),
        ("`eventbridge`", _names(labels["eventbridge"], "none"), _HOW["eventbridge"]),
        ("`custom_resource`", _names(labels["custom_resource"], "none"), _HOW["custom_resource"]),
        ("`ses` (`Records[].eventSource` `aws:ses`)", _names(labels["ses"], "none"), _HOW["ses"]),
    ]


def reach_table(app: App) -> str:
    """SECURITY.md's table of what each event kind can reach, as Markdown."""
    lines = ["| event kind | what it can reach | how the route is chosen |", "|---|---|---|"]
    lines += [f"| {kind} | {reach} | {how} |" for kind, reach, how in reach_rows(app)]
    return "\n".join(lines)
