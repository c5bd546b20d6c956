"""S3 without a client: presigned forms and URLs (the one GET is :mod:`.s3_get`).

A presigned URL is a few HMACs, while building an S3 client loads the SDK and S3's models and
endpoint rules (hundreds of milliseconds cold). Each public function here decides once whether it
can do the work itself (:func:`opsfn.services.lean.where.target`) and otherwise asks the SDK, so
callers never branch. Every URL and form is signed with the running route's scoped session, which
must outlive it. Path-style on a custom endpoint, as opsfn's clients address it; virtual-hosted on
AWS.
"""

from __future__ import annotations

import base64
import datetime as dt
import hmac
import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from opsfn.core.access_check import check
from opsfn.services import aws
from opsfn.services.lean.sign import (
    ALGORITHM,
    presigned_query,
    signing_key,
    stamps,
    uri,
)
from opsfn.services.lean.where import Target, plain_endpoint, target

_PLAIN_BUCKET = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")


def s3_target(bucket: str, valid_for: float = 0, *, cold_only: bool = True,
               environ: Mapping[str, str] | None = None) -> Target | None:
    """A target for ``bucket``, when its name needs none of the SDK's addressing rules."""
    if not _PLAIN_BUCKET.match(bucket):
        return None
    return target("s3", environ, valid_for=valid_for, cold_only=cold_only)


def _host_and_path(bucket: str, key: str, where: Target) -> tuple[str, str, str]:
    """(scheme, host, path) of an object as opsfn's S3 client addresses it."""
    encoded = uri(key, "/~")
    if where.endpoint:
        parts = urlsplit(where.endpoint.rstrip("/"))
        return parts.scheme, parts.netloc, f"{parts.path}/{bucket}/{encoded}"
    return "https", f"{bucket}.s3.{where.region}.amazonaws.com", f"/{encoded}"


# -- pure signing (the tests hold these to botocore's output) ---------------------------------------
def sign_post(bucket: str, key: str, *, fields: dict[str, str], conditions: list[Any],
              expires_in: int, where: Target, now: dt.datetime) -> dict[str, Any]:
    """The form S3 accepts for one upload, signed as the SDK's ``generate_presigned_post`` does.

    The policy lists the caller's conditions, the bucket and the key, then the signing fields;
    S3 checks every form field against it, so the form cannot be used for another key, type or
    size.
    """
    stamp, day = stamps(now)
    credential = f"{where.credentials.access_key}/{day}/{where.region}/s3/aws4_request"
    form = {**fields, "key": key, "x-amz-algorithm": ALGORITHM, "x-amz-credential": credential,
            "x-amz-date": stamp}
    signed = [*conditions, {"bucket": bucket}, {"key": key}, {"x-amz-algorithm": ALGORITHM},
              {"x-amz-credential": credential}, {"x-amz-date": stamp}]
    if where.credentials.token:
        form["x-amz-security-token"] = where.credentials.token
        signed.append({"x-amz-security-token": where.credentials.token})
    expiration = (now.astimezone(dt.UTC) + dt.timedelta(seconds=expires_in)).strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    policy = base64.b64encode(json.dumps({"expiration": expiration, "conditions": signed}
                                         ).encode()).decode()
    form["policy"] = policy
    form["x-amz-signature"] = hmac.new(
        signing_key(where.credentials.secret_key, day, where.region, "s3"), policy.encode(),
        "sha256").hexdigest()
    if where.endpoint:
        url = f"{where.endpoint.rstrip('/')}/{bucket}"
    else:
        url = f"https://{bucket}.s3.{where.region}.amazonaws.com/"
    return {"url": url, "fields": form}


def sign_url(method: str, bucket: str, key: str, *, headers: dict[str, str], expires_in: int,
             where: Target, now: dt.datetime) -> str:
    """A query-signed URL for ``method`` on one object, as ``generate_presigned_url`` makes it.

    ``headers`` (a PUT's Content-Type and Content-Length) are signed with the host: S3 refuses a
    request whose values differ. The body is ``UNSIGNED-PAYLOAD``.
    """
    scheme, host, path = _host_and_path(bucket, key, where)
    query = presigned_query(method, host, path, headers, credentials=where.credentials,
                            region=where.region, expires_in=expires_in, now=now)
    return f"{scheme}://{host}{path}?{query}"


# -- what routes call --------------------------------------------------------------------------------
def presigned_post(bucket: str, key: str, *, fields: dict[str, str], conditions: list[Any],
                   expires_in: int) -> dict[str, Any]:
    """An upload form for ``bucket/key``; its bearer may do what the route may (``s3:PutObject``)."""
    check("s3:PutObject")
    where = s3_target(bucket, expires_in)
    if where is not None:
        return sign_post(bucket, key, fields=fields, conditions=conditions,
                         expires_in=expires_in, where=where, now=dt.datetime.now(dt.UTC))
    return _sdk(expires_in).generate_presigned_post(  # type: ignore[no-any-return]
        Bucket=bucket, Key=key, Fields=fields, Conditions=conditions, ExpiresIn=expires_in)


def presigned_put(bucket: str, key: str, *, headers: dict[str, str], expires_in: int) -> str:
    """A PUT URL for ``bucket/key`` with ``headers`` (Content-Type, Content-Length) signed."""
    check("s3:PutObject")
    where = s3_target(bucket, expires_in)
    if where is not None:
        return sign_url("PUT", bucket, key, headers=headers, expires_in=expires_in, where=where,
                        now=dt.datetime.now(dt.UTC))
    params: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if "Content-Type" in headers:
        params["ContentType"] = headers["Content-Type"]
    if "Content-Length" in headers:
        params["ContentLength"] = int(headers["Content-Length"])
    return _sdk(expires_in).generate_presigned_url(  # type: ignore[no-any-return]
        "put_object", Params=params, ExpiresIn=expires_in, HttpMethod="PUT")


def presigned_get(bucket: str, key: str, *, expires_in: int) -> str:
    """A GET URL for ``bucket/key``: signed here whenever the SDK would sign it the same way."""
    check("s3:GetObject")
    where = s3_target(bucket, expires_in, cold_only=False)  # a warm process saves a client too
    if where is not None:
        return sign_url("GET", bucket, key, headers={}, expires_in=expires_in, where=where,
                        now=dt.datetime.now(dt.UTC))
    return _sdk(expires_in).generate_presigned_url(  # type: ignore[no-any-return]
        "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires_in)


def _sdk(valid_for: float) -> Any:
    """The route's S3 client, its scoped session renewed first if a URL would outlive it."""
    from opsfn.services import scoped

    scoped.current(valid_for)
    return aws.client("s3")


# -- one object read ---------------------------------------------------------------------------------
def object_url(bucket: str, key: str, where: Target) -> str | None:
    """The URL the SDK would use for the object, or None when its rules need the SDK."""
    if not _PLAIN_BUCKET.match(bucket) or (where.endpoint and not plain_endpoint(where.endpoint)):
        return None
    scheme, host, path = _host_and_path(bucket, key, where)
    return f"{scheme}://{host}{path}"
