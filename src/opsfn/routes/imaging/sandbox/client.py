"""The parent's side: hand one upload to a sandbox child, keep one spare child started.

A child decodes one upload and exits, so nothing one upload does can reach another. To keep the
steady-state cost small, a spare child is started after each decode (while the caller goes on to
S3 and Rekognition) and waits on its stdin with numpy, pydicom and Pillow already imported.
Whatever goes wrong in the child once it has the upload (a crash, a timeout, a limit, an
exception, a malformed reply) fails that upload at once with a permanent ``InvalidContent`` whose
reason is one of the fixed sentences below or the decoder's own safe reason, never the file's
content. A child that dies before it is ready never saw the upload: a fresh one is tried, and if
that cannot start either the error is ``InternalError``, retried like any failure of the world.
"""

from __future__ import annotations

import atexit
import os
import re
import signal
import threading
import time
from typing import Any

from opsfn.errors import DeadlineExceeded, InternalError, InvalidContent
from opsfn.routes.imaging.sandbox import framing
from opsfn.routes.imaging.sandbox.protocol import FAILED, Decoded, Job
from opsfn.routes.imaging.sandbox.spawn import Limits, MiB, Overflow, TimedOut, Worker
from opsfn.routes.imaging.settings import ImagingSettings

TIMED_OUT = "decoding the file took longer than its time limit"
CPU_LIMIT = "decoding the file used more than its CPU time limit"
STOPPED = "the decoder stopped without an answer (a crash or a resource limit)"
OVERFLOW = "the decoder's output exceeded its limit"
MALFORMED = "the decoder's answer was malformed"
NOT_STARTED = "the decoding sandbox could not start"
BLOB_NAMES = ("image", "label_copy")
# A reason from the child is shown and logged: plain words only, so that even a subverted
# decoder cannot pass on more than a short sentence of them.
_SAFE_REASON = re.compile(r"[A-Za-z0-9 ,.()'/_-]{1,160}")


class _Spares:
    """The one waiting spare child, behind a lock (the local server decodes from threads)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.worker: Worker | None = None

    def take(self) -> Worker | None:
        with self.lock:
            worker, self.worker = self.worker, None
            return worker

    def peek(self) -> Worker | None:
        with self.lock:
            return self.worker

    def fill(self, limits: Limits) -> None:
        with self.lock:
            if self.worker is None:
                self.worker = Worker(limits)


_spares = _Spares()


def limits_from_settings() -> Limits:
    """The child's limits from ``IMAGING_SANDBOX_*``."""
    settings = ImagingSettings.current()
    return Limits(address_space=settings.imaging_sandbox_memory_mib * MiB,
                  cpu_s=settings.imaging_sandbox_cpu_s)


def decode(data: bytes, job: Job, *, keep_spare: bool = True,
           budget_s: float | None = None) -> Decoded:
    """Decode one upload in a sandbox child (``IMAGING_SANDBOX=inline``: in process).

    ``budget_s``: what the invocation has left for it. When that is shorter than the decoder's
    own timeout and runs out, the upload is not at fault: DeadlineExceeded, and a retry decodes
    it with a whole invocation's time.
    """
    settings = ImagingSettings.current()
    if settings.imaging_sandbox == "inline":
        return _inline(data, job)
    limits = limits_from_settings()
    timeout = settings.imaging_sandbox_timeout_s
    cut_short = budget_s is not None and budget_s < timeout
    if budget_s is not None:
        if budget_s <= 0:
            raise DeadlineExceeded("no time left in the invocation to decode the upload")
        timeout = min(timeout, budget_s)
    worker = _take(limits)
    try:
        try:
            return _run(worker, data, job, timeout)
        except _NotStarted:  # a spare can die for reasons of its own: one more, fresh
            worker.close()
            worker = Worker(limits)
            try:
                return _run(worker, data, job, timeout)
            except _NotStarted:
                raise InternalError(NOT_STARTED) from None
        except InvalidContent as refused:
            if cut_short and refused.message == TIMED_OUT:
                raise DeadlineExceeded("the invocation ended before the decoder did") from None
            raise
    finally:
        worker.close()
        if keep_spare:
            try:
                _replenish(limits)
            except OSError:
                pass  # no spare for now (out of processes or memory): the next decode starts one


def _inline(data: bytes, job: Job) -> Decoded:
    """The debugging mode: the same work and the same errors, in this process."""
    from opsfn.routes.imaging.sandbox import work  # the decoders: only this mode loads them here

    try:
        decoded = work.run(data, job)
    except work.Unusable as exc:
        raise InvalidContent(exc.reason) from None
    except Exception:  # noqa: BLE001 - the same contract as the child: a permanent failure
        raise InvalidContent(FAILED) from None
    decoded.decoder_pid = os.getpid()
    decoded.credential_variables = sorted(k for k in os.environ if k.startswith("AWS_"))
    return decoded


def _take(limits: Limits) -> Worker:
    """The spare when it is alive and started with these limits, else a new child."""
    spare = _spares.take()
    if spare is not None:
        if spare.limits == limits and spare.alive():
            return spare
        spare.close()  # died before it was given anything, or stale limits: not this upload's fault
    return Worker(limits)


def _replenish(limits: Limits) -> None:
    """Start the next spare unless one is already waiting."""
    _spares.fill(limits)


def start_spare() -> None:
    """Start the spare now if there is none (without waiting), so that its imports overlap
    whatever the caller does before it decodes: the first upload of an environment then does
    not wait for them in full."""
    if ImagingSettings.current().imaging_sandbox == "process":
        _replenish(limits_from_settings())


def prepare(timeout: float = 30.0) -> int | None:
    """Start the spare if there is none and wait until it is ready; its pid (None when it did
    not become ready). For benchmarks and tests; the product starts spares itself."""
    _spares.fill(limits_from_settings())
    spare = _spares.peek()
    if spare is None or not spare.wait_ready(timeout):
        return None
    return spare.pid


def spare_pid() -> int | None:
    """The waiting spare's pid, or None."""
    spare = _spares.peek()
    return spare.pid if spare is not None else None


def shutdown() -> None:
    """Kill and reap the spare (at interpreter exit, and in tests)."""
    spare = _spares.take()
    if spare is not None:
        spare.close()


atexit.register(shutdown)


def reply_limit(job: Job) -> int:
    """The most a reply may hold: an RGB PNG of the largest frame allowed, with zlib's worst
    case and chunk overhead, and a JPEG copy of at most the same."""
    return 3 * job.max_frame_pixels + (3 * job.max_frame_pixels >> 4) + 16 * MiB


class _NotStarted(Exception):
    """The child ended or timed out before it was ready: it never read the upload, so the
    failure is the sandbox's (worth a retry), not the upload's."""


def _run(worker: Worker, data: bytes, job: Job, timeout: float) -> Decoded:
    deadline = time.monotonic() + timeout
    request = [*framing.header({"job": job.to_dict(), "size": len(data)}), data]
    try:
        raw = worker.exchange(request, deadline, 2 * reply_limit(job) + framing.HEADER_MAX + 64)
        status = worker.finish(deadline)
    except TimedOut:
        if not worker.ready:
            raise _NotStarted from None
        raise InvalidContent(TIMED_OUT) from None
    except Overflow:
        raise InvalidContent(OVERFLOW) from None
    if status != 0:
        if not worker.ready:
            raise _NotStarted
        raise InvalidContent(_stopped_reason(status))
    return parse_reply(raw, job)


def _stopped_reason(status: int) -> str:
    # RLIMIT_FSIZE needs no case: Python ignores SIGXFSZ, so the write fails (an exception).
    return CPU_LIMIT if status == -signal.SIGXCPU else STOPPED


def parse_reply(raw: bytes, job: Job) -> Decoded:
    """The child's reply, or InvalidContent: its refusal, or MALFORMED."""
    try:
        return _decoded(raw, job)
    except (framing.FrameError, KeyError, TypeError, ValueError):
        raise InvalidContent(MALFORMED) from None


def _decoded(raw: bytes, job: Job) -> Decoded:
    """The reply, checked field by field: the child is not trusted to answer sensibly."""
    frames = framing.split(raw, reply_limit(job), 1 + len(BLOB_NAMES))
    if not frames or len(frames[0]) > framing.HEADER_MAX:
        raise framing.FrameError("no header")
    header = framing.parse_header(frames[0])
    if header.get("ok") is not True:
        reason = header.get("reason")
        safe = isinstance(reason, str) and _SAFE_REASON.fullmatch(reason) is not None
        raise InvalidContent(str(reason) if safe else FAILED)
    names: Any = header["blobs"]
    if (not isinstance(names, list) or len(names) != len(frames) - 1
            or not set(names) <= set(BLOB_NAMES) or len(set(names)) != len(names)):
        raise ValueError("blobs")
    blobs = dict(zip(names, frames[1:], strict=True))
    width, height, metadata = header["width"], header["height"], header["metadata"]
    if not (isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0
            and isinstance(metadata, dict)):
        raise ValueError("fields")
    if (job.kind == "dicom") != ("image" in blobs):
        raise ValueError("image")
    variables = header.get("credential_variables", [])
    image = blobs.get("image")
    return Decoded(width, height, metadata, image_parts=[image] if image is not None else [],
                   label_copy=blobs.get("label_copy"), decoder_pid=int(header["pid"]),
                   credential_variables=[str(v) for v in variables],
                   peak_rss_kib=int(header.get("peak_rss_kib", 0)),
                   decoder_limits={str(k): int(v) for k, v in header.get("limits", {}).items()})
