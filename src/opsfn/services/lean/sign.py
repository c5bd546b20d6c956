"""Signature Version 4 as AWS documents it: headers for a request, or a presigned query."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from urllib.parse import quote, urlsplit

from opsfn.services.lean.where import Credentials

ALGORITHM = "AWS4-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()


def signing_key(secret: str, day: str, region: str, service: str) -> bytes:
    """SigV4's derived key for one day, region and service."""
    return _hmac(_hmac(_hmac(_hmac(f"AWS4{secret}".encode(), day), region), service),
                 "aws4_request")


def uri(text: str, safe: str) -> str:
    """Percent-encoding as SigV4's canonical request writes it."""
    return quote(text, safe=safe)


def stamps(now: dt.datetime) -> tuple[str, str]:
    """(``x-amz-date``, the day) of an instant."""
    stamp = now.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return stamp, stamp[:8]


def signature(credentials: Credentials, region: str, service: str, stamp: str, canonical: str
              ) -> tuple[str, str]:
    """(credential scope, signature) of a canonical request."""
    day = stamp[:8]
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join([ALGORITHM, stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    return scope, hmac.new(signing_key(credentials.secret_key, day, region, service),
                           to_sign.encode(), hashlib.sha256).hexdigest()


def signed_headers(method: str, url: str, headers: dict[str, str], payload_hash: str, *,
                   credentials: Credentials, region: str, service: str, now: dt.datetime
                   ) -> dict[str, str]:
    """``headers`` with the host, date, token and authorization of one signed request."""
    parts = urlsplit(url)
    stamp, _ = stamps(now)
    headers = {**headers, "host": parts.netloc, "x-amz-date": stamp}
    if credentials.token:
        headers["x-amz-security-token"] = credentials.token
    names = sorted(headers)
    canonical = "\n".join([method, parts.path or "/", parts.query,
                           "".join(f"{n}:{headers[n].strip()}\n" for n in names), ";".join(names),
                           payload_hash])
    scope, signed = signature(credentials, region, service, stamp, canonical)
    headers["authorization"] = (f"{ALGORITHM} Credential={credentials.access_key}/{scope}, "
                                f"SignedHeaders={';'.join(names)}, Signature={signed}")
    return headers


def presigned_query(method: str, host: str, path: str, headers: dict[str, str], *,
                    credentials: Credentials, region: str, expires_in: int, now: dt.datetime
                    ) -> str:
    """The query of a presigned S3 URL: ``headers`` and the host signed, ``UNSIGNED-PAYLOAD``."""
    stamp, day = stamps(now)
    signed = {name.lower(): value.strip() for name, value in headers.items()}
    signed["host"] = host
    names = ";".join(sorted(signed))
    query = {"X-Amz-Algorithm": ALGORITHM,
             "X-Amz-Credential": f"{credentials.access_key}/{day}/{region}/s3/aws4_request",
             "X-Amz-Date": stamp, "X-Amz-Expires": str(int(expires_in)),
             "X-Amz-SignedHeaders": names}
    if credentials.token:
        query["X-Amz-Security-Token"] = credentials.token
    canonical_query = "&".join(f"{uri(k, '-_.~')}={uri(v, '-_.~')}"
                               for k, v in sorted(query.items()))
    canonical = "\n".join([method, path, canonical_query,
                           "".join(f"{name}:{signed[name]}\n" for name in sorted(signed)),
                           names, "UNSIGNED-PAYLOAD"])
    _, signed_value = signature(credentials, region, "s3", stamp, canonical)
    return f"{canonical_query}&X-Amz-Signature={signed_value}"
