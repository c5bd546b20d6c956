"""One signed S3 GET without an SDK client: how ``opsfn sync`` reads its manifest.

Building botocore's S3 client imports the SDK and parses its service and endpoint models: 250-400
ms in a fresh process, most of a sync that finds nothing to upload (that sync is one GET of the
manifest and a walk of the tree). When the credentials are in the environment (Lambda, CI jobs)
and the endpoint is a plain one, the command fetches the manifest with a SigV4-signed GET over
``http.client`` and creates the SDK client only if something must be written. Anything this does
not handle the way the SDK would — other credential sources, FIPS or dual-stack endpoints, bucket
names that need path-style or special handling, proxies, redirects, errors —
returns :data:`USE_SDK`, and the caller asks the SDK instead.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO, Final
from urllib.parse import quote, urlsplit

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_PLAIN_BUCKET = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
_AWS_PARTITION_REGION = re.compile(r"^(us|eu|ap|sa|ca|me|af|il|mx)-[a-z]+-\d$")
_SDK_ONLY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "AWS_PROFILE",
                       "AWS_USE_FIPS_ENDPOINT", "AWS_USE_DUALSTACK_ENDPOINT",
                       "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")


class UseSdk:
    """Marker: this request is one for the SDK."""


USE_SDK: Final = UseSdk()


@dataclass(frozen=True, slots=True)
class Credentials:
    """Static credentials as the environment gives them."""

    access_key: str
    secret_key: str
    token: str | None = None


def env_credentials(environ: Mapping[str, str]) -> Credentials | None:
    """The credentials botocore's first provider (the environment) would use, if complete."""
    access, secret = environ.get("AWS_ACCESS_KEY_ID"), environ.get("AWS_SECRET_ACCESS_KEY")
    if not access or not secret:
        return None
    return Credentials(access, secret, environ.get("AWS_SESSION_TOKEN") or None)


def _config_names_endpoint(environ: Mapping[str, str]) -> bool:
    """Whether the shared config file may send S3 elsewhere (``endpoint_url``, addressing)."""
    from pathlib import Path

    path = Path(environ.get("AWS_CONFIG_FILE") or "~/.aws/config").expanduser()
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            text = handle.read(1 << 20)
    except OSError:
        return False
    return "endpoint_url" in text or "addressing_style" in text or "use_" in text


def object_url(bucket: str, key: str, region: str, endpoint: str | None) -> str | None:
    """The URL the SDK would use for the object, or None when its rules need the SDK.

    A custom endpoint (moto, MinIO, LocalStack) gets path-style addressing, which every
    S3-compatible server accepts; AWS gets virtual-hosted addressing in the commercial partition.
    """
    if not _PLAIN_BUCKET.match(bucket):
        return None
    path = quote(key, safe="/~")
    if endpoint:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path.strip("/") \
                or parts.query:
            return None
        return f"{parts.scheme}://{parts.netloc}/{bucket}/{path}"
    if not _AWS_PARTITION_REGION.match(region):
        return None
    return f"https://{bucket}.s3.{region}.amazonaws.com/{path}"


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()


def signed_headers(url: str, region: str, credentials: Credentials, now: float) -> dict[str, str]:
    """SigV4 headers of an unsigned-body GET of ``url`` (AWS's documented algorithm)."""
    parts = urlsplit(url)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    day = stamp[:8]
    headers = {"host": parts.netloc, "x-amz-content-sha256": EMPTY_SHA256, "x-amz-date": stamp}
    if credentials.token:
        headers["x-amz-security-token"] = credentials.token
    names = sorted(headers)
    canonical = "\n".join([
        "GET", parts.path or "/", parts.query,
        "".join(f"{name}:{headers[name].strip()}\n" for name in names),
        ";".join(names), EMPTY_SHA256,
    ])
    scope = f"{day}/{region}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope,
                         hashlib.sha256(canonical.encode("utf-8")).hexdigest()])
    key = _hmac(_hmac(_hmac(_hmac(f"AWS4{credentials.secret_key}".encode(), day), region), "s3"),
                "aws4_request")
    signature = hmac.new(key, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    headers["authorization"] = (f"AWS4-HMAC-SHA256 Credential={credentials.access_key}/{scope}, "
                                f"SignedHeaders={';'.join(names)}, Signature={signature}")
    return headers


def get_object(bucket: str, key: str, environ: Mapping[str, str] | None = None,
               timeout_s: float = 10.0) -> IO[bytes] | UseSdk | None:
    """The object's body stream, None when the key does not exist, or USE_SDK.

    Only a 200 or a 404 ``NoSuchKey`` is taken as an answer; every other outcome (403, a missing
    bucket, a redirect to another region, a network error) goes to the SDK, which retries and
    reports it properly.
    """
    from opsfn.core.access_check import check

    check("s3:GetObject")
    env = os.environ if environ is None else environ
    credentials = env_credentials(env)
    if credentials is not None:  # the running route's scoped session, when routes run on one
        from opsfn.services import scoped

        narrowed = scoped.current()
        if narrowed is not None:
            credentials = Credentials(narrowed.access_key, narrowed.secret_key, narrowed.token)
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or ""
    if credentials is None or not region or any(env.get(name) for name in _SDK_ONLY_VARIABLES) \
            or _config_names_endpoint(env):
        return USE_SDK
    # The command gives the SDK AWS_ENDPOINT_URL explicitly, which wins over the S3-only variable;
    # the S3-only variable alone makes the SDK address the bucket virtual-hosted: the SDK's job.
    endpoint = env.get("AWS_ENDPOINT_URL")
    if not endpoint and env.get("AWS_ENDPOINT_URL_S3"):
        return USE_SDK
    url = object_url(bucket, key, region, endpoint)
    if url is None:
        return USE_SDK
    import http.client

    parts = urlsplit(url)
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        import ssl

        # The SDK verifies against AWS_CA_BUNDLE when it is set, else the system's roots.
        context = ssl.create_default_context(cafile=env.get("AWS_CA_BUNDLE") or None)
        connection = http.client.HTTPSConnection(parts.netloc, timeout=timeout_s, context=context)
    else:
        connection = http.client.HTTPConnection(parts.netloc, timeout=timeout_s)
    try:
        connection.request("GET", parts.path,
                           headers=signed_headers(url, region, credentials, time.time()))
        reply = connection.getresponse()
        if reply.status == 200:
            return reply  # the caller reads the stream; closing it closes the connection
        body = reply.read(4096)
    except (OSError, http.client.HTTPException):
        connection.close()
        return USE_SDK
    connection.close()
    if reply.status == 404 and b"<Code>NoSuchKey</Code>" in body:
        return None
    return USE_SDK
