"""Run one sync invocation: plan, upload, delete, record the new manifest, stop on time.

Uploads finish out of order; a window of steps in key order turns them back into an ordered
stream, so the manifest is written sorted and the checkpoint is always a key before which every
step is finished. Stopping early therefore loses nothing: the next invocation resumes after it.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from opsfn.aws_errors import from_aws_error
from opsfn.errors import DeadlineExceeded, NotFound, UpstreamError
from opsfn.routes.exports.sync.model import Counters, RemoteEntry, Step, UploadOptions
from opsfn.routes.exports.sync.plan import plan
from opsfn.routes.exports.sync.remote import (
    ManifestWriter,
    Target,
    list_remote,
    normalise_prefix,
    open_manifest,
    read_manifest,
)
from opsfn.routes.exports.sync.uploader import Uploaded, Uploader
from opsfn.routes.exports.sync.walk import walk

DELETE_BATCH = 1000
WINDOW_LIMIT = 10_000


@dataclass(frozen=True, slots=True)
class SyncJob:
    """One invocation's share of a sync run."""

    root: str
    target: Target
    upload: UploadOptions
    delete: bool = False
    compare: Literal["auto", "listing"] = "auto"
    state_prefix: str = ".opsfn-sync/"
    run_id: str = "run"
    seq: int = 0
    resume_after: str | None = None
    allow_missing_root: bool = False
    exclude: frozenset[str] = frozenset()  # directory keys never copied (see walk.excluded_dirs)


@dataclass(slots=True)
class Outcome:
    """What this invocation did; ``checkpoint`` is set when it stopped before the end."""

    counters: Counters
    checkpoint: str | None = None
    mode: str = "listing"


@dataclass(slots=True)
class _Slot:
    rel: str
    done: bool = False
    entry: RemoteEntry | None = None


@dataclass(slots=True)
class _State:
    counters: Counters
    window: deque[_Slot] = field(default_factory=deque)
    deletes: list[_Slot] = field(default_factory=list)
    fatal: BaseException | None = None
    in_flight: int = 0
    checkpoint: str | None = None
    cond: threading.Condition = field(default_factory=threading.Condition)


def manifest_key(job: SyncJob) -> str:
    """Where the target's manifest lives."""
    return job.target.state_dir(job.state_prefix) + "manifest.jsonl.gz"


def segment_prefix(job: SyncJob) -> str:
    """Where the partial manifests of this run's earlier invocations live."""
    return job.target.state_dir(job.state_prefix) + f"runs/{job.run_id}/"


def _aws_error(exc: BaseException) -> UpstreamError:
    error = from_aws_error(exc)
    return error if isinstance(error, UpstreamError) else UpstreamError(
        f"AWS call failed: {type(exc).__name__}")


class _Runner:
    def __init__(self, job: SyncJob, uploader: Uploader, should_stop: Callable[[], bool],
                 progress: Callable[[Counters], None] | None, lean_reads: bool = False) -> None:
        self.job = job
        self.lean_reads = lean_reads
        self.up = uploader
        self.should_stop = should_stop
        self.progress = progress
        self.state = _State(Counters())
        self.writer = ManifestWriter()
        self.max_in_flight = uploader.options.concurrency * 2
        self._read_count = 0

    def _counted(self, entries: Iterator[RemoteEntry]) -> Iterator[RemoteEntry]:
        for entry in entries:
            self._read_count += 1
            yield entry

    # -- completion, in worker threads ----------------------------------------------------------
    def _finished(self, slot: _Slot, step: Step, future: Any) -> None:
        state = self.state
        with state.cond:
            exc = future.exception()
            if exc is None:
                done: Uploaded = future.result()
                state.counters.uploaded += 1
                state.counters.bytes += done.size
                slot.entry = RemoteEntry(step.rel, done.size, done.mtime_ns, done.mode)
            elif isinstance(exc, OSError) and not type(exc).__module__.startswith(("botocore", "urllib3")):
                state.counters.failed += 1  # unreadable or vanished: reported, remote copy kept
                slot.entry = step.remote
            else:
                state.fatal = state.fatal or exc
                slot.entry = step.remote
            slot.done = True
            state.in_flight -= 1
            state.cond.notify_all()

    # -- main thread ----------------------------------------------------------------------------
    def _drain(self) -> None:
        state = self.state
        with state.cond:
            while state.window and state.window[0].done:
                slot = state.window.popleft()
                if slot.entry is not None:
                    self.writer.write(slot.entry)
                if state.checkpoint is None or slot.rel > state.checkpoint:
                    state.checkpoint = slot.rel

    def _flush_deletes(self) -> None:
        state = self.state
        if not state.deletes:
            return
        slots, state.deletes = state.deletes, []
        prefix = self.job.target.prefix
        try:
            failed = set(self.up.delete([prefix + slot.rel for slot in slots]))
        except Exception as exc:  # noqa: BLE001 - turned into a typed error by the caller
            state.fatal = state.fatal or exc
            failed = {prefix + slot.rel for slot in slots}
        with state.cond:
            for slot in slots:
                if prefix + slot.rel in failed:
                    state.counters.failed += 1
                else:
                    state.counters.deleted += 1
                    slot.entry = None
                slot.done = True

    def _wait_room(self) -> None:
        state = self.state
        with state.cond:
            while state.in_flight >= self.max_in_flight and state.fatal is None:
                state.cond.wait()
        if len(state.window) >= WINDOW_LIMIT:
            self._flush_deletes()
            with state.cond:
                while state.window and not state.window[0].done and state.fatal is None:
                    state.cond.wait()

    def _wait_all(self) -> None:
        self._flush_deletes()
        with self.state.cond:
            while self.state.in_flight:
                self.state.cond.wait()
        self._drain()

    def _handle(self, step: Step) -> None:
        state, counters = self.state, self.state.counters
        slot = _Slot(step.rel)
        if step.kind in ("upload", "skip", "ignore", "fail"):
            counters.scanned += 1
        if step.kind == "upload":
            assert step.local is not None
            self._wait_room()
            with state.cond:
                state.window.append(slot)
                state.in_flight += 1
            future = self.up.submit(step.local, self.job.target.prefix + step.rel)
            future.add_done_callback(lambda f: self._finished(slot, step, f))
            return
        if step.kind == "delete":
            with state.cond:
                state.window.append(slot)
            state.deletes.append(slot)
            if len(state.deletes) >= DELETE_BATCH:
                self._flush_deletes()
            return
        if step.kind == "skip":
            assert step.local is not None
            counters.skipped += 1
            slot.entry = RemoteEntry(step.rel, step.local.size, step.local.mtime_ns, step.local.mode)
        elif step.kind == "ignore":
            counters.skipped += 1
            slot.entry = step.remote
        elif step.kind == "fail":
            with state.cond:  # upload threads update the same counter
                counters.failed += 1
            slot.entry = step.remote
        else:  # keep
            slot.entry = step.remote
        slot.done = True
        with state.cond:
            state.window.append(slot)

    def run(self) -> Outcome:
        job = self.job
        stream = (open_manifest(lambda: self.up.client, job.target.bucket, manifest_key(job),
                                lean=self.lean_reads) if job.compare == "auto" else None)
        mode = "manifest" if stream is not None else "listing"
        remote = self._counted(read_manifest(stream, job.resume_after) if stream is not None else
                               list_remote(self.up.client, job.target, job.resume_after,
                                           normalise_prefix(job.state_prefix)))
        local = walk(job.root, recursive=job.target.recursive, resume_after=job.resume_after,
                     exclude=job.exclude)
        stopped = False
        for steps, step in enumerate(plan(local, remote, delete=job.delete)):
            if self.state.fatal is not None:
                break
            if self.should_stop():
                if steps == 0:
                    raise DeadlineExceeded("not enough time left to make progress; raise the "
                                           "function timeout or lower SYNC_DEADLINE_MARGIN_MS")
                stopped = True
                break
            self._handle(step)
            self._drain()
            if self.progress is not None:
                self.progress(self.state.counters)
        self._wait_all()
        if self.state.fatal is not None:
            raise _aws_error(self.state.fatal)
        if stopped:
            self._save_segment()
            return Outcome(self.state.counters, self.state.checkpoint or "", mode)
        counters = self.state.counters
        if not (mode == "manifest" and self.job.seq == 0 and counters.uploaded == counters.deleted
                == counters.failed == 0 and self.writer.count == self._read_count):
            self._save_manifest()
        return Outcome(counters, None, mode)

    def _put(self, key: str, body: Any) -> None:
        self.up.client.put_object(Bucket=self.job.target.bucket, Key=key, Body=body,
                                  ContentType="application/gzip", ContentEncoding="identity",
                                  **self.up.sse)

    def _save_segment(self) -> None:
        self._put(segment_prefix(self.job) + f"{self.job.seq:06d}.jsonl.gz", self.writer.finish())

    def _save_manifest(self) -> None:
        job, client = self.job, self.up.client
        own = self.writer.finish()
        if job.seq == 0:
            self._put(manifest_key(job), own)
            return
        final = ManifestWriter()
        segments: list[str] = []
        try:
            # Keys are made one at a time: the loop ends at the first missing segment, so a
            # huge (forged) seq costs one read, not a list of that many keys.
            for seq in range(job.seq):
                key = segment_prefix(job) + f"{seq:06d}.jsonl.gz"
                segments.append(key)
                stream = open_manifest(lambda: client, job.target.bucket, key)
                if stream is None:
                    # An earlier invocation's record is missing: write no manifest, so the next
                    # run compares against the listing instead of trusting a partial record.
                    client.delete_object(Bucket=job.target.bucket, Key=manifest_key(job))
                    return
                final.copy_from(stream)
            final.copy_from(own)
            self._put(manifest_key(job), final.finish())
            self.up.delete(segments)
        finally:
            final.close()

    def close(self) -> None:
        self.writer.close()


def run_sync(job: SyncJob, *, should_stop: Callable[[], bool] | None = None,
             progress: Callable[[Counters], None] | None = None,
             uploader: Uploader | None = None, lean_reads: bool = False) -> Outcome:
    """Sync ``job.root`` to its target until done or until ``should_stop()`` says so.

    ``lean_reads`` lets the manifest be read without the SDK (a fresh command-line process; an
    invocation that already has clients, or runs under an SDK mock, keeps the SDK path).
    """
    if not Path(job.root).is_dir() and not job.allow_missing_root:
        raise NotFound("the sync source directory does not exist (is the file system mounted?)")
    started = time.monotonic()
    own = uploader is None
    up = uploader or Uploader(job.upload)
    runner = _Runner(job, up, should_stop or (lambda: False), progress, lean_reads)
    try:
        outcome = runner.run()
    except (DeadlineExceeded, NotFound, UpstreamError):
        raise
    except Exception as exc:
        if type(exc).__module__.startswith(("botocore", "s3transfer", "urllib3")):
            raise _aws_error(exc) from None  # listing or manifest calls: same clear errors
        raise
    finally:
        runner.close()
        if own:
            up.close()
    outcome.counters.seconds = time.monotonic() - started
    return outcome
