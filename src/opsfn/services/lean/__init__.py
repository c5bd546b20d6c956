"""AWS calls without the SDK, for what a cold process or a quick command does first.

``import boto3`` and one client cost more than everything else ``POST /request-upload``, ``GET
/get-results`` or a sync that finds nothing to do. Where the SDK would do nothing more (see
:mod:`.where`), these calls are made here, SigV4 as AWS documents it over ``http.client``:
DynamoDB's GetItem and PutItem, STS's AssumeRole (a route's scoped session), S3's presigned
forms and URLs, and one object GET. Each public function decides once and otherwise asks the
SDK, which then does what it always does, and repeats every call whose reply is not a plain
success so that errors, throttling and retries are the SDK's. Each name loads its module on
first use: a route that signs a URL does not import the DynamoDB or STS code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from opsfn.lazy import attributes

if TYPE_CHECKING:
    from opsfn.services.lean.dynamodb import dynamodb_call, dynamodb_request, get_item, put_item
    from opsfn.services.lean.s3 import (
        object_url,
        presigned_get,
        presigned_post,
        presigned_put,
        sign_post,
        sign_url,
    )
    from opsfn.services.lean.s3_get import get_object
    from opsfn.services.lean.sts import assume_role
    from opsfn.services.lean.where import (
        USE_SDK,
        Credentials,
        Target,
        UseSdk,
        sdk_loaded,
        target,
    )

_HOMES = {
    "dynamodb": ("dynamodb_call", "dynamodb_request", "get_item", "put_item"),
    "s3": ("object_url", "presigned_get", "presigned_post", "presigned_put",
           "sign_post", "sign_url"),
    "s3_get": ("get_object",),
    "sts": ("assume_role",),
    "where": ("USE_SDK", "Credentials", "Target", "UseSdk", "sdk_loaded", "target"),
}
__all__ = ["USE_SDK", "Credentials", "Target", "UseSdk", "assume_role", "dynamodb_call",
           "dynamodb_request", "get_item", "get_object", "object_url", "presigned_get",
           "presigned_post", "presigned_put", "put_item", "sdk_loaded", "sign_post", "sign_url",
           "target"]
__getattr__, __dir__ = attributes(globals(), {
    **{name: f"opsfn.services.lean.{module}:{name}"
       for module, names in _HOMES.items() for name in names},
    **{module: f"opsfn.services.lean.{module}:" for module in (*_HOMES, "sign", "wire")}})
