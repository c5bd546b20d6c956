"""Landed FHIR files: which keys are landing files, reading them as a stream, moving bad ones aside.

A file that fails :mod:`~opsfn.routes.etl.validate` would poison the ETL; it is copied to the
quarantine prefix under an id derived from the event (never the user's file name), an alert is
sent, and only then is the original deleted, so a failure part-way loses nothing and the retry
completes the move.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from typing import Any

from opsfn.events import S3Object
from opsfn.routes.etl import validate
from opsfn.routes.etl.settings import EtlSettings
from opsfn.services import aws

CHUNK_BYTES = 1024 * 1024
JSON, NDJSON = "json", "ndjson"


def event_id(obj: S3Object) -> str:
    """A stable id of one object event: the same upload delivered twice has the same id."""
    raw = "\n".join([obj.bucket, obj.key, obj.version_id or "", obj.sequencer or "", obj.etag or ""])
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def _suffixes(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def file_format(key: str, settings: EtlSettings) -> tuple[str, str] | None:
    """``(format, suffix)`` when ``key`` is a landing file by prefix and suffix, else None."""
    if not key.startswith(settings.landing_prefix) or key.startswith(settings.quarantine_prefix):
        return None
    lowered = key.lower()
    candidates = [(NDJSON, suffix) for suffix in _suffixes(settings.landing_ndjson_suffixes)]
    candidates += [(JSON, suffix) for suffix in _suffixes(settings.landing_json_suffixes)]
    for layout, suffix in sorted(candidates, key=lambda pair: len(pair[1]), reverse=True):
        if lowered.endswith(suffix.lower()):
            return layout, suffix  # the longest suffix wins (".fhir.json" before ".json")
    return None


def quarantine_key(prefix: str, event: str, suffix: str = ".json") -> str:
    """Where a rejected file goes: the prefix, the event id and the configured suffix."""
    return f"{prefix}{event}{suffix}"


def _chunks(body: Any, tick: Callable[[], None]) -> Iterator[bytes]:
    while chunk := body.read(CHUNK_BYTES):
        tick()
        yield chunk


def inspect(bucket: str, key: str, layout: str, tick: Callable[[], None]) -> validate.Verdict:
    """Stream the object through the check; raises the S3 NoSuchKey error when it is gone.

    ``tick`` runs per chunk read, so the caller can stop before the Lambda deadline.
    """
    settings = EtlSettings.current()
    reply = aws.client("s3").get_object(Bucket=bucket, Key=key)
    body = reply["Body"]
    try:
        if int(reply.get("ContentLength") or 0) > settings.landing_max_file_bytes:
            return validate.Verdict(layout, 0, validate.TOO_LARGE)
        chunks = _chunks(body, tick)
        if layout == NDJSON:
            return validate.check_ndjson(chunks, settings.landing_max_bytes)
        return validate.check_json(chunks, settings.landing_max_bytes)
    finally:
        body.close()


def where(verdict: validate.Verdict) -> str:
    """The first bad entry in words (``index 3``, ``line 12``), or empty."""
    if verdict.line is not None:
        return f"line {verdict.line}"
    if verdict.index is not None:
        return f"index {verdict.index}"
    return ""


def quarantine(bucket: str, key: str, target_key: str, verdict: validate.Verdict) -> dict[str, Any]:
    """Copy the object to ``target_key`` with the reason and a digest of the original key.

    The landed key is a file name a user chose (it may name a patient): the copy keeps only its
    SHA-256, which still lets an operator who knows the name find the copy.
    """
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    metadata = {"quarantine-reason": str(verdict.reason), "original-key-sha256": digest}
    if where(verdict):
        metadata["quarantine-entry"] = where(verdict)
    from boto3.s3.transfer import TransferConfig

    # A managed copy: one CopyObject for files up to 4 GiB, a multipart copy beyond (CopyObject
    # stops at 5 GiB, and a landed file may be larger).
    aws.client("s3").copy(
        {"Bucket": bucket, "Key": key}, bucket, target_key,
        ExtraArgs={"MetadataDirective": "REPLACE", "Metadata": metadata},
        Config=TransferConfig(multipart_threshold=4 * 1024**3, multipart_chunksize=512 * 1024**2),
    )
    moved: dict[str, Any] = {"bucket": bucket, "quarantineKey": target_key,
                             "reason": verdict.reason}
    if verdict.index is not None:
        moved["index"] = verdict.index
    if verdict.line is not None:
        moved["line"] = verdict.line
    return moved


def delete_original(bucket: str, key: str) -> None:
    """Remove the rejected original after its copy and alert are done."""
    aws.client("s3").delete_object(Bucket=bucket, Key=key)
