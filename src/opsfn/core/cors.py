"""CORS answered by the function itself, the same for every HTTP source.

HTTP APIs can answer preflights themselves, but REST APIs, Function URLs without their own CORS
settings and ALBs pass the browser's ``OPTIONS`` through, so the function must answer it: a
preflight (``OPTIONS`` with ``Access-Control-Request-Method``) to a declared path gets 204 with
the path's methods from the registry, the headers browsers may send, and a max age. Every reply
carries ``Access-Control-Allow-Origin``. Preflights are answered before a route is chosen (and so
before any authentication: browsers send no credentials on a preflight).

``OPSFN_CORS_ORIGIN`` is ``*``, one origin, or a comma-separated list; with a list the request's
``Origin`` is echoed when it is in it (with ``Vary: Origin``), else the first entry is sent, which
the browser then refuses.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

from opsfn.events.http import Response

if TYPE_CHECKING:
    from opsfn.core.registry import Registry
    from opsfn.events.http import HttpRequest

# What browsers may send to the API: JSON bodies, bearer tokens, SigV4-signed calls, API keys.
ALLOW_HEADERS = ("content-type", "authorization", "x-amz-date", "x-amz-security-token",
                 "x-api-key")
REQUEST_METHOD = "access-control-request-method"


@lru_cache(maxsize=8)
def origins(setting: str) -> tuple[str, ...]:
    """The configured origins, in order, without blanks or trailing slashes."""
    return tuple(o.strip().rstrip("/") for o in setting.split(",") if o.strip())


@lru_cache(maxsize=8)
def _fixed_headers(origin: str) -> dict[str, str]:
    return {"access-control-allow-origin": origin}


def allow_origin(setting: str, request_origin: str | None) -> tuple[str, bool] | None:
    """The ``Access-Control-Allow-Origin`` value and whether it depends on the request."""
    allowed = origins(setting)
    if not allowed:
        return None
    if "*" in allowed:
        return "*", False
    if len(allowed) == 1:
        return allowed[0], False
    if request_origin is not None and request_origin.rstrip("/") in allowed:
        return request_origin, True
    return allowed[0], True


def reply_headers(setting: str, event: dict[str, Any]) -> dict[str, str] | None:
    """The CORS headers every reply to ``event`` carries (a shared dict when they do not depend
    on the request: callers must not change it). The request's headers are read only when the
    setting lists several origins."""
    allowed = origins(setting)
    found = allow_origin(setting, event_origin(event) if len(allowed) > 1 else None)
    if found is None:
        return None
    origin, varies = found
    if not varies:
        return _fixed_headers(origin)
    return {"access-control-allow-origin": origin, "vary": "Origin"}


def event_origin(event: dict[str, Any]) -> str | None:
    """The ``Origin`` header of a raw HTTP event of any source (for replies to unparsed events)."""
    for key in ("headers", "multiValueHeaders"):
        headers = event.get(key)
        if not isinstance(headers, dict):
            continue
        for name, value in headers.items():
            if isinstance(name, str) and name.lower() == "origin":
                found = value[-1] if isinstance(value, list) and value else value
                return found if isinstance(found, str) else None
    return None


def path_methods(registry: Registry, request: HttpRequest) -> list[str] | None:
    """The methods the registry declares for the request's path; None for an undeclared path."""
    methods: dict[str, Any] | None = None
    if request.route_template is not None:
        methods = registry.http.by_template(request.route_template)
    if methods is None:
        found = registry.http.lookup(request.path)
        if found is None:
            return None
        methods = found[0]
    return sorted(methods)


def is_preflight(request: HttpRequest) -> bool:
    """A browser's CORS preflight, as opposed to an application's own OPTIONS request."""
    return request.method == "OPTIONS" and REQUEST_METHOD in request.headers


def preflight(registry: Registry, request: HttpRequest, max_age: int) -> Response | None:
    """The 204 answer to a preflight to a declared path; None for any other request (an
    ``OPTIONS`` without ``Access-Control-Request-Method``) or an undeclared path (404 follows)."""
    if not is_preflight(request):
        return None
    methods = path_methods(registry, request)
    if methods is None:
        return None
    return Response(status=204, headers={
        "access-control-allow-methods": ", ".join([*(m for m in methods if m != "OPTIONS"),
                                                   "OPTIONS"]),
        "access-control-allow-headers": ", ".join(ALLOW_HEADERS),
        "access-control-max-age": str(max_age),
    })
