"""One S3 GET without a client: what a sync that finds nothing to do reads first.

Apart from :mod:`.s3`, which only signs, so that a route that signs a URL loads no more than
that.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import IO
from urllib.parse import urlsplit

from opsfn.core.access_check import check
from opsfn.services.lean.s3 import object_url, s3_target
from opsfn.services.lean.sign import EMPTY_SHA256, signed_headers
from opsfn.services.lean.where import USE_SDK, UseSdk
from opsfn.services.lean.wire import connection


def get_object(bucket: str, key: str, environ: Mapping[str, str] | None = None,
               timeout_s: float = 10.0) -> IO[bytes] | UseSdk | None:
    """The object's body stream, None when the key does not exist, or USE_SDK.

    Only a 200 or a 404 ``NoSuchKey`` is taken as an answer; every other outcome (403, a missing
    bucket, a redirect to another region, a network error) goes to the SDK, which retries and
    reports it properly. Used whether or not the SDK is loaded: a sync that finds nothing to do
    then never builds an S3 client.
    """
    check("s3:GetObject")
    where = s3_target(bucket, cold_only=False, environ=environ)
    url = None if where is None else object_url(bucket, key, where)
    if where is None or url is None:
        return USE_SDK
    import http.client

    link = connection(url, environ, timeout_s)
    try:
        link.request("GET", urlsplit(url).path, headers=signed_headers(
            "GET", url, {"x-amz-content-sha256": EMPTY_SHA256}, EMPTY_SHA256,
            credentials=where.credentials, region=where.region, service="s3",
            now=dt.datetime.now(dt.UTC)))
        reply = link.getresponse()
        if reply.status == 200:
            return reply  # type: ignore[no-any-return]  # the caller reads it; closing closes
        body = reply.read(4096)
    except (OSError, http.client.HTTPException):
        link.close()
        return USE_SDK
    link.close()
    if reply.status == 404 and b"<Code>NoSuchKey</Code>" in body:
        return None
    return USE_SDK
