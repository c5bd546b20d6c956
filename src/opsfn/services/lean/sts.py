"""STS AssumeRole without the SDK (query protocol): how a cold route gets its scoped session."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Mapping
from urllib.parse import urlencode

from opsfn.services.lean.dynamodb import service_url
from opsfn.services.lean.sign import signed_headers
from opsfn.services.lean.where import USE_SDK, Target, UseSdk
from opsfn.services.lean.wire import post

_CREDENTIALS = re.compile(rb"<AssumeRoleResult>.*?<Credentials>(.*?)</Credentials>", re.S)
_FIELD = re.compile(rb"<(AccessKeyId|SecretAccessKey|SessionToken|Expiration)>([A-Za-z0-9+/=:.\-]+)</\1>")


def assume_role(request: Mapping[str, str], where: Target, environ: Mapping[str, str] | None = None
                ) -> dict[str, str] | UseSdk:
    """The ``Credentials`` of a successful ``AssumeRole`` (as the SDK names them), or USE_SDK.

    ``where`` carries the function's own credentials: they are what may assume the role.
    """
    url = service_url("sts", where)
    body = urlencode({"Action": "AssumeRole", "Version": "2011-06-15", **request}).encode()
    headers = signed_headers("POST", url, {
        "content-type": "application/x-www-form-urlencoded; charset=utf-8"},
        hashlib.sha256(body).hexdigest(), credentials=where.credentials, region=where.region,
        service="sts", now=dt.datetime.now(dt.UTC))
    answer = post(url, body, headers, environ)
    if isinstance(answer, UseSdk) or answer[0] != 200:
        return USE_SDK  # the SDK repeats the call and reports what went wrong
    # STS's reply is fixed XML whose four values are plain base64, digits and a date: read them
    # without importing an XML parser on the cold path (an unexpected shape goes to the SDK).
    block = _CREDENTIALS.search(answer[1])
    if block is None:
        return USE_SDK
    values = {name.decode(): value.decode() for name, value in _FIELD.findall(block.group(1))}
    names = ("AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration")
    return {name: values[name] for name in names} if all(values.get(n) for n in names) \
        else USE_SDK
