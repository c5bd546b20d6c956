"""HTTP dispatch: route lookup by path and method, replies in the source's format."""

from __future__ import annotations

from typing import Any

from opsfn.core import cors
from opsfn.core.auth import authorize
from opsfn.core.invocation import Invocation
from opsfn.core.observability import get_logger
from opsfn.core.registry import Registry
from opsfn.core.route_call import run_route
from opsfn.core.router import HttpSpec, Route
from opsfn.errors import (
    InvalidSetting,
    MethodNotAllowed,
    MissingSetting,
    NotFound,
    OpsfnError,
    Unauthorized,
)
from opsfn.events.http import HttpRequest, Response, parse_request, render_json, render_response

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def find_route(registry: Registry, request: HttpRequest) -> Route:
    """The route for the request's method and path; 404 or 405 otherwise."""
    methods: dict[str, Route] | None = None
    if request.route_template is not None:
        methods = registry.http.by_template(request.route_template)
        params = request.path_params
    if methods is None:
        found = registry.http.lookup(request.path)
        if found is None:
            raise NotFound("no route for this path")
        methods, params = found
    route = methods.get(request.method)
    if route is None and request.method == "HEAD":
        route = methods.get("GET")
    if route is None:
        raise MethodNotAllowed(f"method {request.method} not allowed here", allowed=sorted(methods))
    request.path_params = params
    return route


def _payload(request: HttpRequest) -> Any:
    if request.method in _BODY_METHODS:
        return request.json()
    return dict(request.query)


def as_response(result: Any) -> Response:
    """A route's return value as a Response: None is 204, anything else JSON with 200."""
    if isinstance(result, Response):
        return result
    if result is None:
        return Response(status=204)
    return Response(status=200, body=result)


def error_response(error: OpsfnError) -> Response:
    """The JSON error body for a typed error (never a trace or an internal message)."""
    headers = {}
    if isinstance(error, MethodNotAllowed):
        headers["allow"] = ", ".join(error.allowed)
    return Response(status=error.status, body=error.to_dict(), headers=headers)


def _caller(required: str, route: Route, event: dict[str, Any], invocation: Invocation) -> str:
    """The authenticated caller's identity; 401 (logged with the route, not the reason) if none."""
    try:
        caller = authorize(required, invocation.kind, event, invocation.settings.default_auth)
    except Unauthorized:
        get_logger().warning("unauthorized request refused", extra={
            "route": route.label, "source": invocation.kind, "required": required})
        raise
    return caller.identity if caller is not None else ""


def _cors_headers(setting: str | None, event: dict[str, Any]) -> dict[str, str] | None:
    """Access-Control-Allow-Origin (and Vary) for this reply; None when CORS is not configured."""
    if not setting:
        return None

    return cors.reply_headers(setting, event)


def dispatch(event: dict[str, Any], invocation: Invocation) -> dict[str, Any]:
    """Serve one HTTP event; every outcome is an HTTP reply."""
    settings = invocation.settings
    try:
        request = parse_request(invocation.kind, event, settings.max_body_bytes)
        if request.method == "OPTIONS":  # a CORS preflight is answered before any route or auth

            preflight = cors.preflight(invocation.registry, request, settings.cors_max_age)
            if preflight is not None:
                return render_response(invocation.kind, event, preflight,
                                       _cors_headers(settings.cors_origin, event))
        route = find_route(invocation.registry, request)
        required = route.spec.auth if isinstance(route.spec, HttpSpec) else "default"
        if required != "public":
            invocation.caller = _caller(required, route, event, invocation)
        has_body = request.method in _BODY_METHODS
        result = run_route(route, invocation, lambda: _payload(request),
                           "body" if has_body else "query", request,
                           raw_json=request.require_body if has_body else None)
    except OpsfnError as error:
        if isinstance(error, InvalidSetting | MissingSetting):
            # The caller sees a 500; the operator needs to know which variable to fix.
            get_logger().error("HTTP request failed on a setting",
                               extra={"source": invocation.kind, **error.log_fields()})
        result = error_response(error)
    extra = _cors_headers(settings.cors_origin, event)
    if result is not None and not isinstance(result, Response | bytes | bytearray):
        return render_json(invocation.kind, event, result, extra)
    response = as_response(result)
    if response.status >= 400 and "cache-control" not in response.headers:
        response.headers["cache-control"] = "no-store"
    return render_response(invocation.kind, event, response, extra)
