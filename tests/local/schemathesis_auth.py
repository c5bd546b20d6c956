"""Schemathesis hooks (``SCHEMATHESIS_HOOKS``): each operation's credentials, as its document asks.

An operation whose security is ``sigv4`` is signed with botocore's SigV4 signer over the request
Schemathesis is about to send (method, URL, headers, body), as API Gateway's IAM authorizer
checks it; ``jwt`` sends a bearer JWT. ``opsfn local`` reads the access key or the claims and
checks nothing more (tooling/local/local_auth.py); a public operation gets no credentials.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

import requests
import schemathesis
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

CREDENTIALS = Credentials("AKIDSCHEMATHESIS", "local-secret")
REGION = "us-east-1"


def _segment(value: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


JWT = ".".join([_segment({"alg": "none"}), _segment({"sub": "schemathesis", "scope": "read"}),
                "unsigned"])


def _schemes(case: Any) -> set[str]:
    security = case.operation.definition.raw.get("security", [])
    return {name for requirement in security for name in requirement}


def sigv4_headers(case: Any, base_url: str) -> dict[str, str]:
    """The SigV4 headers of the exact request ``case`` becomes."""
    kwargs = case.as_transport_kwargs(base_url=base_url)
    prepared = requests.Request(
        method=kwargs["method"], url=kwargs["url"], headers=kwargs.get("headers"),
        params=kwargs.get("params"), json=kwargs.get("json"), data=kwargs.get("data"),
    ).prepare()
    signed = AWSRequest(method=prepared.method, url=prepared.url, data=prepared.body or b"",
                        headers={k: v for k, v in prepared.headers.items()
                                 if k.lower() in ("host", "content-type")})
    SigV4Auth(CREDENTIALS, "execute-api", REGION).add_auth(signed)
    return {k: v for k, v in signed.headers.items() if k.lower() in ("authorization", "x-amz-date")}


@schemathesis.auth(refresh_interval=None)
class OperationCredentials:
    """SigV4 or a JWT, whichever the operation's security names first."""

    def get(self, case: Any, context: Any) -> str:
        return os.environ["OPSFN_TEST_BASE_URL"]

    def set(self, case: Any, data: str, context: Any) -> None:
        schemes = _schemes(case)
        headers = dict(case.headers or {})
        if "sigv4" in schemes:
            headers.update(sigv4_headers(case, data))
        elif "jwt" in schemes:
            headers["Authorization"] = f"Bearer {JWT}"
        case.headers = headers
