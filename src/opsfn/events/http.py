"""HTTP requests and replies for API Gateway REST (v1), HTTP API (v2), Function URLs and ALB.

The four sources differ in where the method, path, query and headers live, and in the reply they
accept (ALB wants a status description and mirrors multi-value headers; v1 has no cookies list).
This module turns each into one :class:`HttpRequest` and renders one :class:`Response` back.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote_plus

from opsfn.errors import PayloadTooLarge, ValidationFailed
from opsfn.events.envelope import Envelope
from opsfn.events.jsonable import dumps


@dataclass(slots=True)
class HttpRequest(Envelope):
    """One HTTP request, whatever the source; header names are lower-case."""

    kind: str
    method: str
    path: str
    headers: dict[str, str]
    query: dict[str, str]
    multi_query: dict[str, list[str]]
    body: bytes
    request_id: str
    route_template: str | None = None
    path_params: dict[str, str] = field(default_factory=dict)

    def require_body(self) -> bytes:
        """The raw body; a 400 naming ``body`` when there is none."""
        if not self.body:
            raise ValidationFailed(
                "request body is required", details=[{"loc": "body", "msg": "body is empty",
                                                      "type": "missing"}]
            )
        return self.body

    def json(self) -> Any:
        """The body parsed as JSON; a 400 naming ``body`` when it is not JSON."""
        self.require_body()
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError, RecursionError):  # Recursion: deeply nested JSON
            raise ValidationFailed(
                "request body is not valid JSON",
                details=[{"loc": "body", "msg": "not valid JSON", "type": "json_invalid"}],
            ) from None


@dataclass(slots=True)
class Response:
    """What a route returns when it needs a status, headers or a non-JSON body."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    binary: bool = False


def _str_dict(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): v for k, v in value.items() if isinstance(v, str)}


def _lower_headers(event: dict[str, Any]) -> dict[str, str]:
    raw = event.get("headers")
    headers = {str(k).lower(): v for k, v in raw.items() if isinstance(v, str)} \
        if isinstance(raw, dict) else {}
    multi = event.get("multiValueHeaders")
    if isinstance(multi, dict) and not headers:  # ALB sends only one of the two maps
        for key, values in multi.items():
            if isinstance(values, list) and values and isinstance(values[-1], str):
                headers.setdefault(str(key).lower(), ",".join(v for v in values if isinstance(v, str)))
    return headers


def _unquote(text: str) -> str:
    """ALB's query strings are still URL-encoded; most parameters hold nothing to decode."""
    if "%" not in text and "+" not in text:
        return text
    return unquote_plus(text)


def _queries(event: dict[str, Any], kind: str) -> tuple[dict[str, str], dict[str, list[str]]]:
    raw_single = event.get("queryStringParameters")
    raw_multi = event.get("multiValueQueryStringParameters")
    if not raw_single and not raw_multi:  # most requests carry no query string
        return {}, {}
    single = _str_dict(raw_single)
    multi: dict[str, list[str]] = {}
    if isinstance(raw_multi, dict):
        for key, values in raw_multi.items():
            if isinstance(values, list):
                multi[str(key)] = [v for v in values if isinstance(v, str)]
    if kind not in {"http_v1", "alb"}:
        # v2 and Function URLs join repeated parameters with commas in the single map.
        multi = {key: value.split(",") for key, value in single.items()}
    for key, values in multi.items():
        if values and key not in single:
            single[key] = values[-1]
    if kind == "alb":
        # ALB passes query strings still URL-encoded.
        single = {_unquote(k): _unquote(v) for k, v in single.items()}
        multi = {_unquote(k): [_unquote(v) for v in vs] for k, vs in multi.items()}
    return single, multi


def _body(event: dict[str, Any], max_bytes: int) -> bytes:
    body = event.get("body")
    if body is None or body == "":
        return b""
    if not isinstance(body, str):
        raise ValidationFailed(
            "request body is not text", details=[{"loc": "body", "msg": "not text", "type": "body_type"}]
        )
    if len(body) > max_bytes * 4 // 3 + 4:
        raise PayloadTooLarge(f"request body is larger than {max_bytes} bytes")
    if event.get("isBase64Encoded") is True:
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise ValidationFailed(
                "request body is not valid base64",
                details=[{"loc": "body", "msg": "invalid base64", "type": "body_encoding"}],
            ) from None
    else:
        raw = body.encode("utf-8", "surrogatepass")
    if len(raw) > max_bytes:
        raise PayloadTooLarge(f"request body is larger than {max_bytes} bytes")
    return raw


def _strip_stage(path: str, context: dict[str, Any]) -> str:
    stage = context.get("stage")
    if isinstance(stage, str) and stage and stage != "$default":
        prefix = f"/{stage}"
        if path == prefix:
            return "/"
        if path.startswith(prefix + "/"):
            return path[len(prefix):]
    return path


def parse_request(kind: str, event: dict[str, Any], max_body_bytes: int) -> HttpRequest:
    """Build an :class:`HttpRequest` from any of the four HTTP event kinds."""
    context = event.get("requestContext")
    context = context if isinstance(context, dict) else {}
    if kind in ("http_v2", "function_url"):
        http = context.get("http")
        method = http.get("method") if isinstance(http, dict) else None
        method = method if isinstance(method, str) else ""
        raw_path = event.get("rawPath")
        path = raw_path if isinstance(raw_path, str) else "/"
        if kind == "http_v2":
            path = _strip_stage(path, context)
        template = None
        route_key = event.get("routeKey")
        if isinstance(route_key, str) and " " in route_key and "{" in route_key:
            template = route_key.split(" ", 1)[1]
        request_id = context.get("requestId")
    else:
        raw_method = event.get("httpMethod")
        method = raw_method if isinstance(raw_method, str) else ""
        raw_path = event.get("path")
        path = raw_path if isinstance(raw_path, str) else "/"
        resource = event.get("resource")
        template = resource if kind == "http_v1" and isinstance(resource, str) else None
        request_id = context.get("requestId") if kind == "http_v1" else None
    headers = _lower_headers(event)
    if kind == "alb":
        request_id = headers.get("x-amzn-trace-id")
    single, multi = _queries(event, kind)
    if template is not None and "+}" in template:
        template = None  # greedy proxy resources: match the real path instead
    path_params = _str_dict(event.get("pathParameters")) if template is not None else {}
    return HttpRequest(
        kind=kind,
        method=method.upper(),
        path=path or "/",
        headers=headers,
        query=single,
        multi_query=multi,
        body=_body(event, max_body_bytes),
        request_id=request_id if isinstance(request_id, str) else "",
        route_template=template,
        path_params=path_params,
    )


_JSON = "application/json"
_PHRASES = {status.value: status.phrase for status in HTTPStatus}  # an enum call per reply is ~1 us


def _encode_body(response: Response) -> tuple[str, bool, str | None]:
    """(body text, base64 flag, default content type) for a route's result."""
    body = response.body
    if body is None:
        return "", False, None
    if isinstance(body, bytes | bytearray):
        return base64.b64encode(bytes(body)).decode("ascii"), True, "application/octet-stream"
    content_type = _JSON
    for name, value in response.headers.items():
        if name.lower() == "content-type":
            content_type = value
            break
    if isinstance(body, str) and content_type != _JSON:
        return body, False, None
    return dumps(body), False, _JSON


def render_response(kind: str, event: dict[str, Any], response: Response,
                    extra_headers: dict[str, str] | None = None) -> dict[str, Any]:
    """Shape ``response`` the way ``kind`` expects its Lambda reply."""
    text, is_b64, content_type = _encode_body(response)
    headers = {k.lower(): v for k, v in response.headers.items()} if response.headers else {}
    if content_type and "content-type" not in headers:
        headers["content-type"] = content_type
    if extra_headers:
        for key, value in extra_headers.items():
            headers.setdefault(key, value)
    return _shape(kind, event, response.status, text, is_b64=is_b64, headers=headers)


def render_json(kind: str, event: dict[str, Any], value: Any,
                extra_headers: dict[str, str] | None = None) -> dict[str, Any]:
    """A 200 JSON reply of a route's plain result: what most routes return, without the
    :class:`Response` a route may build itself."""
    headers = {"content-type": _JSON}
    if extra_headers:
        headers.update(extra_headers)
    return _shape(kind, event, 200, dumps(value), is_b64=False, headers=headers)


def _shape(kind: str, event: dict[str, Any], status: int, text: str, *, is_b64: bool,
           headers: dict[str, str]) -> dict[str, Any]:
    reply: dict[str, Any] = {"statusCode": status, "body": text, "isBase64Encoded": is_b64}
    if kind == "alb":
        reply["statusDescription"] = f"{status} {_PHRASES.get(status, 'Unknown')}"
        if isinstance(event.get("multiValueHeaders"), dict):
            reply["multiValueHeaders"] = {k: [v] for k, v in headers.items()}
            return reply
    reply["headers"] = headers
    return reply
