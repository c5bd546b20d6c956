"""Uploads: ``put_object`` for small files, one shared TransferManager for multipart ones.

A TransferManager per file costs milliseconds of CPU each; a plain PutObject is the cheapest way
to send a small file (files up to 1 MiB go through :mod:`fastput` first). Large files share one
manager, whose part queue bounds memory. Uploads run on a fixed pool of threads, so concurrency
(and memory: at most 1 MiB of file data per thread, larger files are streamed) is bounded.
"""

from __future__ import annotations

import base64
import contextvars
import hashlib
import os
import stat
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal, TypedDict, cast

from opsfn.routes.exports.sync.fastput import FastPut
from opsfn.routes.exports.sync.model import LocalFile, UploadOptions
from opsfn.services import aws

if TYPE_CHECKING:  # the stubs are a development dependency: types only
    from botocore.session import Session
    from mypy_boto3_s3 import S3Client

_READ_WHOLE = 1024 * 1024  # below this a file is read into memory; above it is streamed


class Encryption(TypedDict, total=False):
    """The server-side encryption arguments every object is written with (PutObject's names)."""

    ServerSideEncryption: Literal["AES256", "aws:kms"]
    SSEKMSKeyId: str


@dataclass(frozen=True, slots=True)
class Uploaded:
    """The file as it was when read: this is what the manifest records."""

    size: int
    mtime_ns: int
    mode: int


def metadata(mtime_ns: int, mode: int) -> dict[str, str]:
    """Object metadata keeping the file's mtime (seconds, nanosecond precision) and mode."""
    seconds, nanos = divmod(mtime_ns, 1_000_000_000)
    return {"mtime": f"{seconds}.{nanos:09d}", "mode": f"{stat.S_IMODE(mode):04o}"}


def s3_client(pool: int) -> S3Client:
    """An S3 client whose connection pool fits the upload threads (same config otherwise).

    Built on a plain botocore session: the sync needs no boto3 resources, and the CLI starts
    faster without importing boto3.
    """
    from botocore.config import Config

    endpoint = os.environ.get("AWS_ENDPOINT_URL") or None
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    config = aws.config().merge(Config(max_pool_connections=pool))
    narrowed = scoped_credentials()
    keys = {} if narrowed is None else {
        "aws_access_key_id": narrowed.access_key, "aws_secret_access_key": narrowed.secret_key,
        "aws_session_token": narrowed.token}
    made = _session().create_client("s3", region_name=region, endpoint_url=endpoint, config=config,
                                    **keys)
    aws.watch_access(made)
    return cast("S3Client", made)  # botocore's create_client is typed for any service


def scoped_credentials() -> Any:
    """The running route's scoped credentials as botocore holds them (None: the session's own)."""
    from opsfn.services import scoped

    narrowed = scoped.current()
    if narrowed is None:
        return None
    from botocore.credentials import Credentials

    return Credentials(narrowed.access_key, narrowed.secret_key, narrowed.token)


@lru_cache(maxsize=1)
def _session() -> Session:
    """One botocore session per process: it caches the loaded service models for every client."""
    from botocore.session import get_session

    return get_session()


def sdk_headers(extra: dict[str, Any]) -> dict[str, str]:
    """The HTTP headers put_object would send for these parameters."""
    headers = {"Content-MD5": extra["ContentMD5"],
               "x-amz-server-side-encryption": extra["ServerSideEncryption"]}
    if "SSEKMSKeyId" in extra:
        headers["x-amz-server-side-encryption-aws-kms-key-id"] = extra["SSEKMSKeyId"]
    for name, value in extra["Metadata"].items():
        headers[f"x-amz-meta-{name}"] = value
    return headers


def content_md5(data: bytes) -> str:
    """The base64 MD5 S3 checks the body against."""
    return base64.b64encode(hashlib.md5(data).digest()).decode()  # noqa: S324 - S3's Content-MD5


def stream_md5(handle: Any) -> str:
    """Content-MD5 of a file read in chunks; the handle is rewound for the upload."""
    digest = hashlib.md5()  # noqa: S324 - S3's Content-MD5
    while chunk := handle.read(1 << 20):
        digest.update(chunk)
    handle.seek(0)
    return base64.b64encode(digest.digest()).decode()


class Uploader:
    """Bounded-concurrency uploads to one bucket; close() waits and frees the threads."""

    def __init__(self, options: UploadOptions, client: S3Client | None = None) -> None:
        self.options = options
        self._client = client
        self._fast: FastPut | None = None
        self._pool = ThreadPoolExecutor(max_workers=options.concurrency,
                                        thread_name_prefix="opsfn-sync")
        self._manager: Any = None
        self._manager_lock = threading.Lock()
        self._client_lock = threading.Lock()
        self.sse: Encryption = ({"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": options.kms_key_id}
                                if options.kms_key_id else {"ServerSideEncryption": "AES256"})

    @property
    def client(self) -> S3Client:
        """The S3 client, made on first use: a sync that writes nothing may never need it."""
        with self._client_lock:
            if self._client is None:
                self._client = s3_client(self.options.concurrency + 4)
                self._fast = FastPut(self._client,
                                     scoped_credentials() or _session().get_credentials(),
                                     self.options.bucket)
            return self._client

    @property
    def fast(self) -> FastPut:
        """Single-request uploads through the client (off for a client given by the caller)."""
        client = self.client
        if self._fast is None:
            self._fast = FastPut(client, None, self.options.bucket)
        return self._fast

    def _transfer_manager(self) -> Any:
        with self._manager_lock:  # first large files may arrive on several threads at once
            return self._make_manager()

    def _make_manager(self) -> Any:
        if self._manager is None:
            from s3transfer.manager import TransferConfig, TransferManager

            config = TransferConfig(multipart_threshold=self.options.multipart_threshold,
                                    multipart_chunksize=self.options.multipart_chunk,
                                    max_request_concurrency=self.options.concurrency)
            self._manager = TransferManager(self.client, config)
        return self._manager

    def submit(self, item: LocalFile, key: str) -> Future[Uploaded]:
        """Start uploading ``item`` to ``key``."""
        # The upload threads run in this route's context, so its access check covers them.
        return self._pool.submit(contextvars.copy_context().run, self._upload, item, key)

    def _upload(self, item: LocalFile, key: str) -> Uploaded:
        with open(item.path, "rb") as handle:  # noqa: PTH123 - str paths from scandir
            st = os.fstat(handle.fileno())
            extra: dict[str, Any] = {"Metadata": metadata(st.st_mtime_ns, st.st_mode), **self.sse}
            if st.st_size >= self.options.multipart_threshold:
                manager = self._transfer_manager()
                # By name: the manager reads each part straight from the file, in its own threads.
                manager.upload(item.path, self.options.bucket, key, extra_args=extra).result()
            elif st.st_size <= _READ_WHOLE:
                data = handle.read()
                extra["ContentMD5"] = content_md5(data)
                if not self.fast.put(key, data, sdk_headers(extra)):
                    self.client.put_object(Bucket=self.options.bucket, Key=key, Body=data, **extra)
            else:
                extra["ContentMD5"] = stream_md5(handle)
                self.client.put_object(Bucket=self.options.bucket, Key=key, Body=handle, **extra)
        return Uploaded(st.st_size, st.st_mtime_ns, stat.S_IMODE(st.st_mode))

    def delete(self, keys: list[str]) -> list[str]:
        """Delete up to 1000 keys; returns the keys S3 reported as not deleted."""
        if not keys:
            return []
        reply = self.client.delete_objects(
            Bucket=self.options.bucket,
            Delete={"Objects": [{"Key": key} for key in keys], "Quiet": True})
        return [str(error.get("Key")) for error in reply.get("Errors", [])]

    def close(self) -> None:
        """Wait for running uploads and release threads."""
        self._pool.shutdown(wait=True)
        if self._manager is not None:
            self._manager.shutdown()
