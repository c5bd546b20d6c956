"""SigV4 presigned GET URLs for S3 without an S3 client.

``GET /get-results`` is polled by browsers and must start as fast as a single-purpose function.
Building a botocore S3 client only to sign a URL loads S3's service model and endpoint rules
(hundreds of milliseconds cold); the query-string signature itself is a few HMACs. This module
computes it as AWS documents it (Signature Version 4, query parameters, ``UNSIGNED-PAYLOAD``), as
a pure function of the credentials, the time and the object; the tests pin it to botocore's own
output for the same inputs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

ALGORITHM = "AWS4-HMAC-SHA256"


@dataclass(frozen=True, slots=True)
class Credentials:
    """An access key pair and, for temporary credentials (Lambda's), the session token."""

    access_key: str
    secret_key: str
    token: str | None = None


def environment_credentials() -> Credentials | None:
    """The credentials Lambda puts in the environment, if present."""
    access, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
    if not access or not secret:
        return None
    return Credentials(access, secret, os.environ.get("AWS_SESSION_TOKEN") or None)


def current_credentials(valid_for: float = 0) -> Credentials:
    """The running route's scoped credentials (valid ``valid_for`` seconds more), else the
    environment's, else botocore's provider chain (profiles, container, IMDS)."""
    from opsfn.services import scoped

    narrowed = scoped.current(valid_for)
    if narrowed is not None:
        return Credentials(narrowed.access_key, narrowed.secret_key, narrowed.token)
    found = environment_credentials()
    if found is not None:
        return found
    import botocore.session

    resolved = botocore.session.get_session().get_credentials()
    if resolved is None:
        raise RuntimeError("no AWS credentials available to sign a URL")
    frozen = resolved.get_frozen_credentials()
    return Credentials(str(frozen.access_key), str(frozen.secret_key), frozen.token)


def _sign(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


def _quote(value: str) -> str:
    return quote(value, safe="-_.~")


def presigned_get(bucket: str, key: str, *, region: str, credentials: Credentials,
                  expires_in: int, endpoint_url: str | None = None,
                  now: dt.datetime | None = None) -> str:
    """A URL that lets its holder GET ``bucket/key`` for ``expires_in`` seconds.

    Without ``endpoint_url`` the URL is virtual-hosted on the regional endpoint; with one (moto,
    a local stack) it is path-style on that endpoint, as opsfn's clients address it.
    """
    moment = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    stamp, day = moment.strftime("%Y%m%dT%H%M%SZ"), moment.strftime("%Y%m%d")
    encoded_key = quote(key, safe="/-_.~")
    if endpoint_url:
        parts = urlsplit(endpoint_url)
        scheme, host = parts.scheme, parts.netloc
        path = f"{parts.path.rstrip('/')}/{bucket}/{encoded_key}"
    else:
        scheme, host, path = "https", f"{bucket}.s3.{region}.amazonaws.com", f"/{encoded_key}"
    scope = f"{day}/{region}/s3/aws4_request"
    params = {
        "X-Amz-Algorithm": ALGORITHM,
        "X-Amz-Credential": f"{credentials.access_key}/{scope}",
        "X-Amz-Date": stamp,
        "X-Amz-Expires": str(int(expires_in)),
        "X-Amz-SignedHeaders": "host",
    }
    if credentials.token:
        params["X-Amz-Security-Token"] = credentials.token
    query = "&".join(f"{_quote(k)}={_quote(v)}" for k, v in sorted(params.items()))
    canonical = "\n".join(["GET", path, query, f"host:{host}\n", "host", "UNSIGNED-PAYLOAD"])
    to_sign = "\n".join([ALGORITHM, stamp, scope,
                         hashlib.sha256(canonical.encode("utf-8")).hexdigest()])
    signing_key = _sign(_sign(_sign(_sign(f"AWS4{credentials.secret_key}".encode(), day),
                                    region), "s3"), "aws4_request")
    signature = hmac.new(signing_key, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    return f"{scheme}://{host}{path}?{query}&X-Amz-Signature={signature}"
