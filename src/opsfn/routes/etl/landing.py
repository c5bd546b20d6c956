"""Landed FHIR files: is this a FHIR resource, and moving the ones that are not aside.

A file that is not JSON, or whose top level has no ``resourceType``, would poison the ETL; it is
copied to the quarantine prefix under an id derived from the event (never the user's file name),
an alert is sent, and only then is the original deleted, so a failure part-way loses nothing and
the retry completes the move.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from opsfn.events import S3Object
from opsfn.services import aws

INVALID_JSON = "invalid_json"
NO_RESOURCE_TYPE = "missing_resource_type"
TOO_LARGE = "too_large"


def event_id(obj: S3Object) -> str:
    """A stable id of one object event: the same upload delivered twice has the same id."""
    raw = "\n".join([obj.bucket, obj.key, obj.version_id or "", obj.sequencer or "", obj.etag or ""])
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def check_document(body: bytes) -> str | None:
    """None for a FHIR-looking JSON object, else why it must not feed the ETL."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return INVALID_JSON
    resource_type = data.get("resourceType") if isinstance(data, dict) else None
    if not isinstance(resource_type, str) or not resource_type.strip():
        return NO_RESOURCE_TYPE
    return None


def quarantine_key(prefix: str, event: str) -> str:
    """Where a rejected file goes: the prefix and the event id, nothing from the file name."""
    return f"{prefix}{event}.json"


def inspect(bucket: str, key: str, max_bytes: int) -> str | None:
    """Read the object and check it; raises the S3 NoSuchKey error when it is gone."""
    reply = aws.client("s3").get_object(Bucket=bucket, Key=key)
    body = reply["Body"]
    try:
        if int(reply.get("ContentLength") or 0) > max_bytes:
            return TOO_LARGE
        return check_document(body.read(max_bytes + 1))
    finally:
        body.close()


def quarantine(bucket: str, key: str, target_key: str, reason: str) -> dict[str, Any]:
    """Copy the object to ``target_key`` with the reason and a digest of the original key.

    The landed key is a file name a user chose (it may name a patient): the copy keeps only its
    SHA-256, which still lets an operator who knows the name find the copy.
    """
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    aws.client("s3").copy_object(
        Bucket=bucket, Key=target_key, CopySource={"Bucket": bucket, "Key": key},
        MetadataDirective="REPLACE",
        Metadata={"quarantine-reason": reason, "original-key-sha256": digest},
    )
    return {"bucket": bucket, "quarantineKey": target_key, "reason": reason}


def delete_original(bucket: str, key: str) -> None:
    """Remove the rejected original after its copy and alert are done."""
    aws.client("s3").delete_object(Bucket=bucket, Key=key)
