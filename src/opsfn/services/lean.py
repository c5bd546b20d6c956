"""DynamoDB items and S3 presigned uploads without the SDK, for the first call of a cold process.

``import boto3`` and one client cost more than everything else ``POST /request-upload`` and
``GET /get-results`` do (a DynamoDB read or write, a signed upload form). When the SDK is not
loaded yet, the credentials are Lambda's (in the environment) and nothing asks for the SDK's
special handling, these calls are made here: SigV4 as AWS documents it, over ``http.client``.
Anything else goes to the SDK, which then does what it always does: another credential source
(SnapStart's container endpoint, profiles), proxies, FIPS or dual-stack endpoints, a shared
config file that names endpoints, a loaded SDK (moto's in-process mock lives there too), and every
reply that is not a plain success (errors, throttling, binary attributes): the SDK sends the call
again and reports or retries it properly.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

ALGORITHM = "AWS4-HMAC-SHA256"
_REGION = re.compile(r"^(us|eu|ap|sa|ca|me|af|il|mx)-[a-z]+-\d$")
_SDK_ONLY = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "AWS_PROFILE",
             "AWS_USE_FIPS_ENDPOINT", "AWS_USE_DUALSTACK_ENDPOINT",
             "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
TIMEOUT_S = 10.0


class UseSdk:
    """Marker: this call is one for the SDK."""


USE_SDK: Final = UseSdk()


@dataclass(frozen=True, slots=True)
class Credentials:
    """Lambda's credentials from the environment."""

    access_key: str
    secret_key: str
    token: str | None = None


@dataclass(frozen=True, slots=True)
class Target:
    """Where and as whom a lean call goes."""

    credentials: Credentials
    region: str
    endpoint: str | None  # a custom endpoint (moto, a local stack), else AWS's


def _config_names_endpoint(environ: Mapping[str, str]) -> bool:
    from pathlib import Path

    path = Path(environ.get("AWS_CONFIG_FILE") or "~/.aws/config").expanduser()
    try:
        text = path.read_text(encoding="utf-8", errors="replace")[: 1 << 20]
    except OSError:
        return False
    return "endpoint_url" in text or "addressing_style" in text or "use_" in text


def sdk_loaded() -> bool:
    """Whether botocore is imported: then there is nothing to save (and mocks patch it)."""
    return "botocore" in sys.modules


def target(service: str, environ: Mapping[str, str] | None = None, *, own: bool = False,
           valid_for: float = 0) -> Target | None:
    """The lean target for ``service``, or None when the SDK must make the call.

    Its credentials are the running route's scoped ones (:mod:`opsfn.services.scoped`), valid
    ``valid_for`` seconds more at least, unless ``own`` asks for the function's own.
    """
    where = _own_target(service, environ)
    if where is None or own:
        return where
    from opsfn.services import scoped

    narrowed = scoped.current(valid_for)
    return where if narrowed is None else Target(narrowed, where.region, where.endpoint)


def _own_target(service: str, environ: Mapping[str, str] | None) -> Target | None:
    if sdk_loaded():
        return None
    env = os.environ if environ is None else environ
    access, secret = env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY")
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or ""
    if not access or not secret or not region or any(env.get(v) for v in _SDK_ONLY) \
            or _config_names_endpoint(env):
        return None
    if env.get(f"AWS_ENDPOINT_URL_{service.upper()}"):
        return None  # the SDK's own rules (addressing, precedence) for a per-service endpoint
    endpoint = env.get("AWS_ENDPOINT_URL")
    if endpoint:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path.strip("/") \
                or parts.query:
            return None
    elif not _REGION.match(region):
        return None
    return Target(Credentials(access, secret, env.get("AWS_SESSION_TOKEN") or None), region,
                  endpoint or None)


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()


def signing_key(secret: str, day: str, region: str, service: str) -> bytes:
    """SigV4's derived key for one day, region and service."""
    return _hmac(_hmac(_hmac(_hmac(f"AWS4{secret}".encode(), day), region), service),
                 "aws4_request")


# -- One signed POST -------------------------------------------------------------------------------
def signed_post(service: str, url: str, body: bytes, headers: dict[str, str], *, where: Target,
                now: dt.datetime) -> dict[str, str]:
    """``headers`` with SigV4's date, token and authorization for a POST of ``body`` to ``url``."""
    stamp = now.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    day = stamp[:8]
    headers = {**headers, "host": urlsplit(url).netloc, "x-amz-date": stamp}
    if where.credentials.token:
        headers["x-amz-security-token"] = where.credentials.token
    names = sorted(headers)
    canonical = "\n".join(["POST", urlsplit(url).path or "/", "",
                           "".join(f"{n}:{headers[n]}\n" for n in names), ";".join(names),
                           hashlib.sha256(body).hexdigest()])
    scope = f"{day}/{where.region}/{service}/aws4_request"
    to_sign = "\n".join([ALGORITHM, stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    signature = hmac.new(signing_key(where.credentials.secret_key, day, where.region, service),
                         to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (f"{ALGORITHM} Credential={where.credentials.access_key}/{scope}, "
                                f"SignedHeaders={';'.join(names)}, Signature={signature}")
    return headers


def post(url: str, body: bytes, headers: dict[str, str], environ: Mapping[str, str] | None
         ) -> tuple[int, bytes, str | None] | UseSdk:
    """(status, body, CRC32 header) of one POST, or USE_SDK when the network failed."""
    import http.client

    parts = urlsplit(url)
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        import ssl

        # The SDK verifies against AWS_CA_BUNDLE when it is set, else the system's roots.
        bundle = (os.environ if environ is None else environ).get("AWS_CA_BUNDLE") or None
        connection = http.client.HTTPSConnection(parts.netloc, timeout=TIMEOUT_S,
                                                 context=ssl.create_default_context(cafile=bundle))
    else:
        connection = http.client.HTTPConnection(parts.netloc, timeout=TIMEOUT_S)
    try:
        connection.request("POST", parts.path or "/", body=body, headers=headers)
        reply = connection.getresponse()
        return reply.status, reply.read(), reply.getheader("x-amz-crc32")
    except (OSError, http.client.HTTPException):
        return USE_SDK
    finally:
        connection.close()


def _url(service: str, where: Target) -> str:
    return where.endpoint.rstrip("/") + "/" if where.endpoint else \
        f"https://{service}.{where.region}.amazonaws.com/"


# -- DynamoDB (JSON protocol) ---------------------------------------------------------------------
def dynamodb_request(operation: str, payload: dict[str, Any], where: Target, now: dt.datetime
                     ) -> tuple[str, bytes, dict[str, str]]:
    """(URL, body, headers) of one signed DynamoDB call."""
    url = _url("dynamodb", where)
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = signed_post("dynamodb", url, body, {
        "content-type": "application/x-amz-json-1.0",
        "x-amz-target": f"DynamoDB_20120810.{operation}"}, where=where, now=now)
    return url, body, headers


def dynamodb_call(operation: str, payload: dict[str, Any], environ: Mapping[str, str] | None = None
                  ) -> dict[str, Any] | UseSdk:
    """The decoded reply of a successful call, or USE_SDK (not possible here, or not a success)."""
    from opsfn.core.access_check import check

    check(f"dynamodb:{operation}")
    where = target("dynamodb", environ)
    if where is None:
        return USE_SDK
    import zlib

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


# -- STS AssumeRole (query protocol) --------------------------------------------------------------
_STS_NS = "{https://sts.amazonaws.com/doc/2011-06-15/}"


def assume_role(request: Mapping[str, str], where: Target, environ: Mapping[str, str] | None = None
                ) -> dict[str, str] | UseSdk:
    """The ``Credentials`` of a successful ``AssumeRole`` (as the SDK names them), or USE_SDK.

    ``where`` carries the function's own credentials: they are what may assume the role.
    """
    from urllib.parse import urlencode

    url = _url("sts", where)
    body = urlencode({"Action": "AssumeRole", "Version": "2011-06-15", **request}).encode()
    headers = signed_post("sts", url, body, {
        "content-type": "application/x-www-form-urlencoded; charset=utf-8"}, where=where,
        now=dt.datetime.now(dt.UTC))
    answer = post(url, body, headers, environ)
    if isinstance(answer, UseSdk) or answer[0] != 200:
        return USE_SDK  # the SDK repeats the call and reports what went wrong
    from xml.etree import ElementTree

    try:
        # STS's own reply over TLS (or the endpoint the deployment names); expat refuses
        # entity expansion bombs since 2.4.1, which every supported Python bundles.
        root = ElementTree.fromstring(answer[1])  # noqa: S314
    except ElementTree.ParseError:
        return USE_SDK
    found = root.find(f"{_STS_NS}AssumeRoleResult/{_STS_NS}Credentials")
    if found is None:
        return USE_SDK
    values = {child.tag.removeprefix(_STS_NS): child.text or "" for child in found}
    names = ("AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration")
    return {name: values[name] for name in names} if all(values.get(n) for n in names) \
        else USE_SDK


def get_item(**request: Any) -> dict[str, Any]:
    """``client("dynamodb").get_item(**request)``, without the SDK when it can be."""
    reply = dynamodb_call("GetItem", request)
    if isinstance(reply, UseSdk):
        from opsfn.services import aws

        return aws.client("dynamodb").get_item(**request)  # type: ignore[return-value]
    return reply


def put_item(**request: Any) -> dict[str, Any]:
    """``client("dynamodb").put_item(**request)``, without the SDK when it can be.

    A failed condition comes back from the SDK's repeat of the call as its usual error. As with
    the SDK's own retries, a reply lost after DynamoDB applied the write makes the repeat see it.
    """
    reply = dynamodb_call("PutItem", request)
    if isinstance(reply, UseSdk):
        from opsfn.services import aws

        return aws.client("dynamodb").put_item(**request)  # type: ignore[return-value]
    return reply


# -- S3 presigned POST ----------------------------------------------------------------------------
def presigned_post(bucket: str, key: str, *, fields: dict[str, str], conditions: list[Any],
                   expires_in: int, where: Target, now: dt.datetime) -> dict[str, Any]:
    """The form S3 accepts for one upload, signed as the SDK's ``generate_presigned_post`` does.

    The policy lists the caller's conditions, the bucket and the key, then the signing fields;
    S3 checks every form field against it, so the form cannot be used for another key, type or
    size.
    """
    moment = now.astimezone(dt.UTC)
    stamp, day = moment.strftime("%Y%m%dT%H%M%SZ"), moment.strftime("%Y%m%d")
    credential = f"{where.credentials.access_key}/{day}/{where.region}/s3/aws4_request"
    form = {**fields, "key": key, "x-amz-algorithm": ALGORITHM, "x-amz-credential": credential,
            "x-amz-date": stamp}
    signed = [*conditions, {"bucket": bucket}, {"key": key}, {"x-amz-algorithm": ALGORITHM},
              {"x-amz-credential": credential}, {"x-amz-date": stamp}]
    if where.credentials.token:
        form["x-amz-security-token"] = where.credentials.token
        signed.append({"x-amz-security-token": where.credentials.token})
    expiration = (moment + dt.timedelta(seconds=expires_in)).strftime("%Y-%m-%dT%H:%M:%SZ")
    policy = base64.b64encode(json.dumps({"expiration": expiration, "conditions": signed}
                                         ).encode()).decode()
    form["policy"] = policy
    form["x-amz-signature"] = hmac.new(
        signing_key(where.credentials.secret_key, day, where.region, "s3"), policy.encode(),
        hashlib.sha256).hexdigest()
    if where.endpoint:  # path-style on a custom endpoint, as opsfn's S3 client addresses it
        url = f"{where.endpoint.rstrip('/')}/{bucket}"
    else:
        url = f"https://{bucket}.s3.{where.region}.amazonaws.com/"
    return {"url": url, "fields": form}


# -- S3 presigned PUT -----------------------------------------------------------------------------
def _uri(text: str, safe: str) -> str:
    from urllib.parse import quote

    return quote(text, safe=safe)


def presigned_put(bucket: str, key: str, *, headers: dict[str, str], expires_in: int,
                  where: Target, now: dt.datetime) -> str:
    """A SigV4 query-signed PUT URL, as the SDK's ``generate_presigned_url`` makes it.

    ``headers`` (Content-Type, and Content-Length when the size is known) are signed with the
    host: S3 refuses a PUT whose values differ. The body is ``UNSIGNED-PAYLOAD``.
    """
    moment = now.astimezone(dt.UTC)
    stamp, day = moment.strftime("%Y%m%dT%H%M%SZ"), moment.strftime("%Y%m%d")
    if where.endpoint:  # path-style on a custom endpoint, as opsfn's S3 client addresses it
        parts = urlsplit(where.endpoint.rstrip("/"))
        base, host = f"{parts.scheme}://{parts.netloc}", parts.netloc
        path = f"{parts.path}/{bucket}/{_uri(key, '/~')}"
    else:
        host = f"{bucket}.s3.{where.region}.amazonaws.com"
        base, path = f"https://{host}", f"/{_uri(key, '/~')}"
    signed = {name.lower(): value.strip() for name, value in headers.items()}
    signed["host"] = host
    names = ";".join(sorted(signed))
    query = {"X-Amz-Algorithm": ALGORITHM,
             "X-Amz-Credential": f"{where.credentials.access_key}/{day}/{where.region}/s3/"
                                 "aws4_request",
             "X-Amz-Date": stamp, "X-Amz-Expires": str(expires_in), "X-Amz-SignedHeaders": names}
    if where.credentials.token:
        query["X-Amz-Security-Token"] = where.credentials.token
    canonical_query = "&".join(f"{_uri(k, '-_.~')}={_uri(v, '-_.~')}"
                               for k, v in sorted(query.items()))
    canonical = "\n".join(["PUT", path, canonical_query,
                           "".join(f"{name}:{signed[name]}\n" for name in sorted(signed)),
                           names, "UNSIGNED-PAYLOAD"])
    to_sign = "\n".join([ALGORITHM, stamp, f"{day}/{where.region}/s3/aws4_request",
                         hashlib.sha256(canonical.encode()).hexdigest()])
    signature = hmac.new(signing_key(where.credentials.secret_key, day, where.region, "s3"),
                         to_sign.encode(), hashlib.sha256).hexdigest()
    return f"{base}{path}?{canonical_query}&X-Amz-Signature={signature}"
