"""``opsfn sync SRC s3://BUCKET/PREFIX``: the same engine as the Lambda action, from a shell.

A progress bar is drawn on standard error when it is a terminal; the summary is printed at the
end (JSON with ``--json``). No deadline applies and no lock table is needed outside Lambda.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from typing import Any

from opsfn.errors import OpsfnError
from opsfn.routes.exports.sync.model import UploadOptions
from opsfn.routes.exports.sync.remote import Target, normalise_prefix
from opsfn.routes.exports.sync.walk import excluded_dirs


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/prefix`` -> (bucket, prefix with a trailing slash or empty)."""
    if not url.startswith("s3://") or len(url) <= 5:
        raise ValueError("destination must look like s3://BUCKET/PREFIX")
    bucket, _, prefix = url[5:].partition("/")
    if not bucket:
        raise ValueError("destination must name a bucket")
    return bucket, prefix


class Progress:
    """A one-line bar on a terminal, redrawn at most ten times a second."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.enabled = bool(getattr(stream, "isatty", lambda: False)())
        self.last = 0.0
        self.started = time.monotonic()

    def __call__(self, counters: Any) -> None:
        now = time.monotonic()
        if not self.enabled or now - self.last < 0.1:
            return
        self.last = now
        done = counters.uploaded + counters.skipped + counters.failed
        spin = "|/-\\"[int(now * 8) % 4]
        mib = counters.bytes / (1024 * 1024)
        self.stream.write(f"\r{spin} scanned {counters.scanned}  uploaded {counters.uploaded}  "
                          f"skipped {counters.skipped}  failed {counters.failed}  "
                          f"{mib:.1f} MiB  {done / max(now - self.started, 1e-3):.0f} files/s ")
        self.stream.flush()

    def close(self) -> None:
        """Clear the bar."""
        if self.enabled:
            self.stream.write("\r\033[K")
            self.stream.flush()


def cmd_sync(args: argparse.Namespace) -> int:
    """Run one sync to completion and print the summary."""
    from opsfn.routes.exports.sync.engine import SyncJob, run_sync

    try:
        bucket, prefix = parse_s3_url(args.destination)
    except ValueError as error:
        sys.stderr.write(f"error: {error}\n")
        return 2
    if args.endpoint_url:
        os.environ["AWS_ENDPOINT_URL"] = args.endpoint_url
    options = UploadOptions(bucket=bucket, kms_key_id=args.kms_key_id, concurrency=args.concurrency,
                            multipart_threshold=args.multipart_threshold * 1024 * 1024,
                            multipart_chunk=args.multipart_chunk * 1024 * 1024)
    ssl_dir = os.environ.get("SSL_DIR")
    exclude = excluded_dirs(args.source, [ssl_dir] if ssl_dir else [])
    if "" in exclude:
        sys.stderr.write("error: the source lies inside SSL_DIR (TLS private keys are never "
                         "copied)\n")
        return 2
    job = SyncJob(root=args.source, target=Target(bucket, normalise_prefix(prefix)), upload=options,
                  delete=args.delete, compare="listing" if args.listing else "auto",
                  state_prefix=args.state_prefix, run_id=uuid.uuid4().hex, exclude=exclude)
    progress = Progress(sys.stderr)
    try:
        # A fresh process reads the manifest without the SDK. Where botocore is already loaded
        # (an embedding program, a test under an SDK mock) its hooks must see every request.
        outcome = run_sync(job, progress=progress, lean_reads="botocore" not in sys.modules)
    except OpsfnError as error:
        progress.close()
        sys.stderr.write(f"error: {type(error).__name__}: {error.message}\n")
        return 1
    progress.close()
    summary = {**outcome.counters.as_dict(), "mode": outcome.mode}
    if args.json:
        sys.stdout.write(json.dumps(summary) + "\n")
    else:
        sys.stdout.write("  ".join(f"{key} {value}" for key, value in summary.items()) + "\n")
    return 1 if outcome.counters.failed else 0


def register(subparsers: Any) -> None:
    """Add ``opsfn sync``."""
    parser = subparsers.add_parser("sync", help="copy a directory tree to S3 incrementally")
    parser.add_argument("source", help="local directory")
    parser.add_argument("destination", help="s3://BUCKET/PREFIX")
    parser.add_argument("--delete", action="store_true", help="delete objects whose files are gone")
    parser.add_argument("--kms-key-id", help="SSE-KMS key (default: SSE-S3)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--multipart-threshold", type=int, default=16, metavar="MIB")
    parser.add_argument("--multipart-chunk", type=int, default=8, metavar="MIB")
    parser.add_argument("--listing", action="store_true",
                        help="compare against the bucket listing instead of the manifest")
    parser.add_argument("--state-prefix", default=".opsfn-sync/", help="where manifests are kept")
    parser.add_argument("--endpoint-url", help="S3 endpoint (moto, local stack)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.set_defaults(func=cmd_sync)
