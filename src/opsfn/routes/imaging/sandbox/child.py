"""The sandbox child: limits first, then the decoders, then one upload, then exit.

Started by exec from ``spawn.Worker`` (never a fork of the credentialed process running on), with
an allow-listed environment and only its two pipes. The resource limits are set here, in the
child's own first lines, rather than in a ``preexec_fn``: that hook runs between fork and exec in
a copy of a possibly multi-threaded parent, where taking any lock can deadlock, and it forces
CPython off its vfork/posix_spawn fast path. Nothing untrusted has been read when they apply: only
the interpreter and this package have run. Then numpy, pydicom and Pillow are imported and
exercised on a tiny image built here, so that a spare child waiting on its stdin has already paid
for them; it writes one ready byte, reads one request, answers and exits with ``os._exit``
(no finalizers to run: the parent is waiting for the reply and then for the exit).

Protocol (``framing``): the parent writes a JSON header ``{"job": {...}, "size": N}`` and N bytes;
the child writes ``READY`` once, then a JSON header (``ok``, ``reason`` or the decoded fields and
``blobs``, the names of the frames that follow) and those frames.
"""

from __future__ import annotations

import io
import json
import os
import resource
import shutil
from pathlib import Path
from typing import Any

from opsfn.routes.imaging.render import render_dicom
from opsfn.routes.imaging.render.gdcm_plugin import decode_order
from opsfn.routes.imaging.sandbox import framing
from opsfn.routes.imaging.sandbox.protocol import FAILED, READY, TMPDIR_PREFIX, TOO_LARGE, Job

REQUEST_MAX = 1 << 16


def apply_limits(limits: dict[str, int]) -> None:
    """Address space, CPU seconds, size of any file written, open files, and no core dumps."""
    used = resource.getrusage(resource.RUSAGE_SELF)
    cpu = int(used.ru_utime + used.ru_stime) + limits["cpu_s"]
    for which, value in ((resource.RLIMIT_AS, limits["address_space"]),
                         (resource.RLIMIT_CPU, cpu),
                         (resource.RLIMIT_FSIZE, limits["file_size"]),
                         (resource.RLIMIT_NOFILE, limits["open_files"]),
                         (resource.RLIMIT_CORE, 0)):
        resource.setrlimit(which, (value, value))


def current_limits() -> dict[str, int]:
    """The limits in force (reported to the parent, so tests see what the decoder ran under)."""
    names = {"address_space": resource.RLIMIT_AS, "cpu_s": resource.RLIMIT_CPU,
             "file_size": resource.RLIMIT_FSIZE, "open_files": resource.RLIMIT_NOFILE,
             "core": resource.RLIMIT_CORE}
    return {name: resource.getrlimit(which)[1] for name, which in names.items()}


def peak_rss_kib() -> int:
    """This process image's peak RSS (VmHWM: unlike ru_maxrss it excludes the parent's pages
    counted before exec)."""
    with Path("/proc/self/status").open(encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def warm_up() -> None:
    """Import and exercise the decoders on a tiny image made here (trusted), so the first real
    upload does not pay for imports and first-call set-up."""
    import numpy as np
    from PIL import Image
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import UID, ExplicitVRLittleEndian, SecondaryCaptureImageStorage

    from opsfn.routes.imaging.sandbox import work

    meta = FileMetaDataset()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = UID("1.2.3.4")
    ds = Dataset()
    ds.file_meta = meta
    ds.Rows, ds.Columns, ds.SamplesPerPixel = 8, 8, 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = np.arange(64, dtype="<u2").tobytes()
    encoded = io.BytesIO()
    ds.save_as(encoded, enforce_file_format=True)
    render_dicom(encoded.getvalue())
    decode_order("1.2.840.10008.1.2.4.50")
    for kind in ("PNG", "JPEG"):
        picture = io.BytesIO()
        Image.new("RGB", (8, 8)).save(picture, kind)
        work.image_size(picture.getvalue(), kind.lower(), 64)


def answer(request: dict[str, Any], data: bytes) -> tuple[dict[str, Any], list[list[bytes]]]:
    """The reply header and the frames' pieces for one request; every failure becomes a safe
    reason."""
    from opsfn.routes.imaging.sandbox import work

    try:
        job = Job.from_dict(request["job"])
        decoded = work.run(data, job)
    except work.Unusable as exc:
        return {"ok": False, "reason": exc.reason}, []
    except MemoryError:
        return {"ok": False, "reason": TOO_LARGE}, []
    except Exception:  # noqa: BLE001 - never say more than that it failed
        return {"ok": False, "reason": FAILED}, []
    blobs = {name: value for name, value in (("image", decoded.image_parts),
                                             ("label_copy", [decoded.label_copy or b""]))
             if value and value[0]}
    reply = {"ok": True, "width": decoded.width, "height": decoded.height,
             "metadata": decoded.metadata, "blobs": list(blobs)}
    return reply, list(blobs.values())


def private_pipes() -> tuple[int, int]:
    """The pipes moved off descriptors 0 and 1, which then point at /dev/null: a decoder that
    prints (C code writing to stdout) can neither corrupt the reply nor read the request."""
    request_fd, reply_fd = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.close(null)
    return request_fd, reply_fd


def serve(limits: dict[str, int]) -> None:
    """Limits, warm-up, ready byte, one request, one reply."""
    apply_limits(limits)
    request_fd, reply_fd = private_pipes()
    requests = os.fdopen(request_fd, "rb")
    os.umask(0o077)
    warm_up()
    framing.write_all(reply_fd, [READY])
    request = framing.parse_header(framing.read_frame(requests, REQUEST_MAX))
    size = request.get("size")
    if not isinstance(size, int) or size < 0:
        raise framing.FrameError("malformed request")
    data = framing.read_exact(requests, size)
    reply, blobs = answer(request, data)
    del data
    reply.update(pid=os.getpid(), peak_rss_kib=peak_rss_kib(), limits=current_limits(),
                 credential_variables=sorted(k for k in os.environ if k.startswith("AWS_")))
    parts = framing.header(reply)
    for pieces in blobs:
        parts += framing.blob(*pieces)
    framing.write_all(reply_fd, parts)


def main(config: str) -> None:
    """Entry point of the bootstrap line; exits 0 after a reply, 2 on anything else."""
    status = 2
    try:  # an exception ends the child with status 2: the parent refuses the upload
        serve(json.loads(config))
        status = 0
    finally:
        remove_own_tmpdir()
        os._exit(status)


def remove_own_tmpdir() -> None:
    """Remove this child's TMPDIR on the way out. The parent removes it too once it has reaped
    the child; this covers a parent killed without cleaning up (the child then reads EOF)."""
    tmpdir = Path(os.environ.get("TMPDIR", ""))
    if tmpdir.name.startswith(TMPDIR_PREFIX) and tmpdir.is_dir():
        shutil.rmtree(tmpdir, ignore_errors=True)
