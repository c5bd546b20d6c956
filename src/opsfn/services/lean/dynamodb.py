"""DynamoDB's GetItem and PutItem without the SDK (JSON protocol)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import zlib
from collections.abc import Mapping
from typing import Any

from opsfn.core.access_check import check
from opsfn.services import aws
from opsfn.services.lean.sign import signed_headers
from opsfn.services.lean.where import USE_SDK, Target, UseSdk, target
from opsfn.services.lean.wire import post


def service_url(service: str, where: Target) -> str:
    """The endpoint a POST-only protocol (JSON, query) is sent to."""
    return where.endpoint.rstrip("/") + "/" if where.endpoint else \
        f"https://{service}.{where.region}.amazonaws.com/"


def dynamodb_request(operation: str, payload: dict[str, Any], where: Target, now: dt.datetime
                     ) -> tuple[str, bytes, dict[str, str]]:
    """(URL, body, headers) of one signed DynamoDB call."""
    url = service_url("dynamodb", where)
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = signed_headers("POST", url, {
        "content-type": "application/x-amz-json-1.0",
        "x-amz-target": f"DynamoDB_20120810.{operation}"}, hashlib.sha256(body).hexdigest(),
        credentials=where.credentials, region=where.region, service="dynamodb", now=now)
    return url, body, headers


def dynamodb_call(operation: str, payload: dict[str, Any], environ: Mapping[str, str] | None = None
                  ) -> dict[str, Any] | UseSdk:
    """The decoded reply of a successful call, or USE_SDK (not possible here, or not a success)."""
    check(f"dynamodb:{operation}")
    where = target("dynamodb", environ)
    if where is None:
        return USE_SDK
    url, body, headers = dynamodb_request(operation, payload, where, dt.datetime.now(dt.UTC))
    answer = post(url, body, headers, environ)
    if isinstance(answer, UseSdk):
        return USE_SDK
    status, raw, crc = answer
    if status != 200 or (crc is not None and crc != str(zlib.crc32(raw))):
        return USE_SDK
    if b'"B":' in raw or b'"BS":' in raw:
        return USE_SDK  # binary attributes: the SDK decodes them to bytes
    try:
        decoded = json.loads(raw)
    except ValueError:
        return USE_SDK
    return decoded if isinstance(decoded, dict) else USE_SDK


def get_item(**request: Any) -> dict[str, Any]:
    """``client("dynamodb").get_item(**request)``, without the SDK when it can be."""
    reply = dynamodb_call("GetItem", request)
    if isinstance(reply, UseSdk):
        return aws.client("dynamodb").get_item(**request)  # type: ignore[return-value]
    return reply


def put_item(**request: Any) -> dict[str, Any]:
    """``client("dynamodb").put_item(**request)``, without the SDK when it can be.

    A failed condition comes back from the SDK's repeat of the call as its usual error. As with
    the SDK's own retries, a reply lost after DynamoDB applied the write makes the repeat see it.
    """
    reply = dynamodb_call("PutItem", request)
    if isinstance(reply, UseSdk):
        return aws.client("dynamodb").put_item(**request)  # type: ignore[return-value]
    return reply
