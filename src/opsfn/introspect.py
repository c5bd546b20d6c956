"""What the registry can say about itself: route tables, input schemas, OpenAPI, explanations.

Used by the CLI and the README generator; nothing here runs a route.
"""

from __future__ import annotations

import inspect
import json
from typing import TYPE_CHECKING, Any

from opsfn.binding import binder_for
from opsfn.errors import OpsfnError
from opsfn.events import detect
from opsfn.events import s3 as s3_events
from opsfn.events.eventbridge import parse_event, schedule_name
from opsfn.paths import template_params
from opsfn.router import ActionSpec, HttpSpec, Route, S3Spec

if TYPE_CHECKING:
    from opsfn.app import App


def input_model(route: Route) -> Any:
    """The pydantic model a route validates its payload with, or None."""
    for param in binder_for(route).params:
        if param.kind == "model":
            return param.annotation
    return None


def route_rows(app: App) -> list[dict[str, str]]:
    """One row per route: source, key, handler, input model."""
    rows = []
    for route in sorted(app.registry.routes, key=lambda r: (r.source, r.label)):
        model = input_model(route)
        rows.append({
            "source": route.source,
            "key": route.label,
            "handler": route.handler_name,
            "input": model.__name__ if model is not None else "-",
        })
    return rows


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


def openapi(app: App, version: str) -> dict[str, Any]:
    """An OpenAPI 3.1 document of the HTTP routes."""
    paths: dict[str, Any] = {}
    components: dict[str, Any] = {}
    error = {"description": "Error", "content": {"application/json": {"schema": {
        "$ref": "#/components/schemas/Error"}}}}
    for route in app.registry.routes:
        if not isinstance(route.spec, HttpSpec):
            continue
        spec = route.spec
        path = spec.path.replace("+}", "}")
        operation: dict[str, Any] = {
            "operationId": route.func.__name__ + "_" + spec.method.lower(),
            "summary": (route.func.__doc__ or "").strip().split("\n")[0],
            "responses": {"200": {"description": "OK"}, "400": error, "404": error},
        }
        parameters = [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
                      for n in template_params(spec.path)]
        model = input_model(route)
        for param in binder_for(route).params:
            if param.kind == "query":
                parameters.append({"name": param.name, "in": "query",
                                   "required": param.default is inspect.Parameter.empty,
                                   "schema": {"type": "string"}})
        if model is not None:
            schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(schema.pop("$defs", {}))
            components[model.__name__] = schema
            ref = {"$ref": f"#/components/schemas/{model.__name__}"}
            if spec.method in ("POST", "PUT", "PATCH", "DELETE"):
                operation["requestBody"] = {"required": True,
                                            "content": {"application/json": {"schema": ref}}}
            else:
                for field_name, field in model.model_fields.items():
                    parameters.append({"name": field.alias or field_name, "in": "query",
                                       "required": field.is_required(),
                                       "schema": {"type": "string"}})
        if parameters:
            operation["parameters"] = parameters
        paths.setdefault(path, {})[spec.method.lower()] = operation
    components["Error"] = {"type": "object", "required": ["error", "message"], "properties": {
        "error": {"type": "string"}, "message": {"type": "string"},
        "details": {"type": "array", "items": {"type": "object"}}}}
    return {"openapi": "3.1.0", "info": {"title": "opsfn", "version": version},
            "paths": paths, "components": {"schemas": components}}


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


def explain(app: App, event: Any) -> list[str]:
    """Lines saying which kind the event is and which route(s) would run, or why none would."""
    from opsfn.dispatch.http import find_route
    from opsfn.dispatch.invoke import find_action
    from opsfn.events.http import parse_request
    from opsfn.events.sqs import parse_record

    try:
        detected = detect(event)
    except OpsfnError as error:
        return [f"kind: none ({error.message})"]
    kind, event = detected.kind, detected.event
    lines = [f"kind: {kind}"]
    try:
        if kind in ("http_v1", "http_v2", "function_url", "alb"):
            request = parse_request(kind, event, 1 << 30)
            route = find_route(app, request)
            lines.append(f"route: {route.label} -> {route.handler_name}")
        elif kind == "invoke":
            route = find_action(app, str(event["action"]))
            lines.append(f"route: {route.label} -> {route.handler_name}")
        elif kind in ("s3", "s3_eventbridge"):
            objects = s3_events.objects_in(event, kind) or []
            lines.append(f"objects: {len(objects)}")
            lines += _s3_targets(app, objects)
        elif kind == "sqs":
            for record in event["Records"]:
                message = parse_record(record)
                if message is None:
                    lines.append("  record: malformed (would be reported failed)")
                    continue
                body = message.json()
                if isinstance(body, dict) and isinstance(body.get("action"), str):
                    route = app.registry.actions.get(body["action"])
                    queue_ok = route is not None and isinstance(route.spec, ActionSpec) \
                        and route.spec.queue
                    lines.append(f"  message on {message.queue}: action {body['action']!r} "
                                 f"({'queue-enabled' if queue_ok else 'not reachable from queues'};"
                                 " only from the action queue)")
                elif app.registry.sqs.get(message.queue):
                    lines.append(f"  message on {message.queue}: sqs route")
                else:
                    objects = s3_events.objects_in(body, "sqs")
                    lines += _s3_targets(app, objects) if objects is not None else [
                        f"  message on {message.queue}: SNS envelope or no route"]
        elif kind == "schedule":
            name = schedule_name(parse_event(event))
            route = app.registry.schedules.get(name or "")
            lines.append(f"route: {route.label} -> {route.handler_name}" if route else
                         f"route: none (no schedule named {name!r})")
        elif kind == "eventbridge":
            parsed = parse_event(event)
            route = app.registry.eventbridge_route(parsed.source, parsed.detail_type)
            lines.append(f"route: {route.label} -> {route.handler_name}" if route else
                         "route: none (no rule for this source and detail-type)")
        elif kind == "custom_resource":
            route = app.registry.custom_resources.get(str(event.get("ResourceType")))
            lines.append(f"route: {route.label} -> {route.handler_name}" if route else
                         "route: none (FAILED on Create/Update, SUCCESS on Delete)")
        else:
            lines.append("route: SNS topic route or wrapped S3 routes")
    except OpsfnError as error:
        lines.append(f"route: none ({error.message})")
    return lines


def dumps(value: Any) -> str:
    """Pretty JSON for the terminal."""
    return json.dumps(value, indent=2, sort_keys=True, default=str)
