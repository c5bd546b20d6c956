"""Who calls a non-public route locally: the caller an ``Authorization`` header names.

``opsfn local`` has no authorizer in front of the function. A request that carries an
``Authorization`` header arrives with the authorizer context the HTTP API would add, *unchecked*:

* ``AWS4-HMAC-SHA256 Credential=KEY/...`` (any SigV4 signature, e.g. ``curl --aws-sigv4``):
  an IAM caller ``arn:aws:iam::123456789012:user/KEY``;
* ``Bearer TOKEN``: a JWT caller whose claims are the token's payload, read without verifying its
  signature (a token that is no JWT becomes ``{"sub": "local-user"}``).

Without the header there is no caller, and routes that need one answer 401, as on AWS. Nothing is
verified: the local stack listens on loopback and is for development only.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from opsfn.tooling.local.template_eval import ACCOUNT

LOCAL_SUBJECT = "local-user"
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/")


def _claim(value: Any) -> Any:
    """Claims as an HTTP API passes them: strings, lists as ``[a b]``."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "[" + " ".join(str(v) for v in value) + "]"
    return json.dumps(value)


def jwt_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT, unverified; ``{"sub": "local-user"}`` when it is none."""
    parts = token.split(".")
    if len(parts) == 3:
        padded = parts[1] + "=" * (-len(parts[1]) % 4)
        try:
            claims = json.loads(base64.urlsafe_b64decode(padded))
        except (binascii.Error, ValueError):
            claims = None
        if isinstance(claims, dict):
            found = {str(k): _claim(v) for k, v in claims.items()}
            found.setdefault("sub", LOCAL_SUBJECT)
            return found
    return {"sub": LOCAL_SUBJECT}


def local_authorizer(headers: dict[str, str]) -> dict[str, Any] | None:
    """``requestContext.authorizer`` for a request's headers (lower-case names), or None."""
    value = (headers.get("authorization") or "").strip()
    if value.startswith("AWS4-HMAC-SHA256"):
        match = _CREDENTIAL.search(value)
        key = match.group(1) if match else "local"
        return {"iam": {"accessKey": key, "accountId": ACCOUNT, "callerId": f"AIDA{key}",
                        "cognitoIdentity": None, "principalOrgId": None,
                        "userArn": f"arn:aws:iam::{ACCOUNT}:user/{key}", "userId": f"AIDA{key}"}}
    if value[:7].lower() == "bearer " and value[7:].strip():
        claims = jwt_claims(value[7:].strip())
        scope = claims.get("scope")
        return {"jwt": {"claims": claims,
                        "scopes": scope.split() if isinstance(scope, str) and scope else None}}
    return None
