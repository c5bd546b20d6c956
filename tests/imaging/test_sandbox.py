"""The decoding sandbox: which process decodes uploads, what it holds, and how it fails."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from opsfn.errors import DeadlineExceeded, InvalidContent, OpsfnError
from opsfn.routes.imaging import processing
from opsfn.routes.imaging.sandbox import client as sandbox
from opsfn.routes.imaging.sandbox import framing, spawn, work
from opsfn.routes.imaging.sandbox.work import Decoded, Job
from opsfn.services import aws
from opsfn.testing import Client
from tests.imaging.conftest import BUCKET, dicom_bytes, job_item, jpeg_bytes, request_upload

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "AKIASANDBOXTESTKEY00",
    "AWS_SECRET_ACCESS_KEY": "sandbox-test-secret-access-key",
    "AWS_SESSION_TOKEN": "sandbox-test-session-token",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://169.254.170.2/creds",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN": "sandbox-test-authorization",
    "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001",
}
DICOM_JOB = Job("dicom", 512 * 1024 * 1024, 64 * 1024 * 1024, 4096)


@pytest.fixture(autouse=True)
def fresh_sandbox(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Credentials in this process's environment (as in Lambda), temporary directories under
    this test's own, and no spare left from another test (it would have another environment)."""
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    sandbox.shutdown()
    yield
    sandbox.shutdown()


def unknown_vr_dicom() -> bytes:
    """CT_small.dcm with the VR of High Bit (0028,0102) mutated to one pydicom does not know."""
    data = dicom_bytes("CT_small.dcm")
    tag = b"\x28\x00\x02\x01US"
    assert data.count(tag) == 1
    return data.replace(tag, b"\x28\x00\x02\x01QX")


def sandbox_children() -> dict[int, str]:
    """This process's sandbox children (pid -> state letter), from /proc."""
    found: dict[int, str] = {}
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        for pid in (task / "children").read_text().split():
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except FileNotFoundError:
                continue
            if b"opsfn.routes.imaging.sandbox.child" in cmdline:
                found[int(pid)] = state
    return found


def spy_decodes(monkeypatch: pytest.MonkeyPatch) -> list[Decoded]:
    """Record what every sandbox decode returned."""
    seen: list[Decoded] = []
    original = sandbox.decode

    def recording(data: bytes, job: Job, *, keep_spare: bool = True,
                  budget_s: float | None = None) -> Decoded:
        assert budget_s is None or budget_s > 0  # uploads: bounded by the invocation's time left
        decoded = original(data, job, keep_spare=keep_spare, budget_s=budget_s)
        seen.append(decoded)
        return decoded

    monkeypatch.setattr(sandbox, "decode", recording)
    return seen


def _upload(client: Client, data: bytes, name: str, ctype: str = "") -> str:
    reply = request_upload(client, name, ctype)
    aws.client("s3").put_object(Bucket=BUCKET, Key=f"uploads/{reply['jobId']}/original", Body=data)
    return str(reply["jobId"])


@pytest.mark.usefixtures("resources")
@pytest.mark.parametrize(("data", "name", "ctype"), [
    (dicom_bytes("CT_small.dcm"), "scan.dcm", ""),
    (jpeg_bytes((1200, 900)), "photo.jpg", "image/jpeg"),
])
def test_uploads_are_decoded_by_a_child_without_credentials(
        client: Client, monkeypatch: pytest.MonkeyPatch, data: bytes, name: str, ctype: str
) -> None:
    seen = spy_decodes(monkeypatch)
    job_id = _upload(client, data, name, ctype)
    assert client.s3_put(BUCKET, f"uploads/{job_id}/original") == {"processed": 1, "records": 1}
    item = job_item(job_id)
    assert item is not None and item["status"] == "complete", item
    assert len(seen) == 1
    assert seen[0].decoder_pid not in (0, os.getpid())
    assert seen[0].credential_variables == []
    assert seen[0].decoder_limits["core"] == 0


@pytest.mark.usefixtures("resources")
def test_no_decoder_runs_in_the_function_process(client: Client,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Every decoder entry point broken here: uploads still complete, so none ran here."""
    import pydicom
    from PIL import Image

    from opsfn.routes.imaging.render import dicom

    def forbidden(*_: Any, **__: Any) -> Any:
        raise AssertionError("decoded in the function process")

    for target, name in ((Image, "open"), (pydicom, "dcmread"), (dicom, "render_chunks"),
                         (work, "run"), (work, "image_size")):
        monkeypatch.setattr(target, name, forbidden)
    for data, name, ctype in ((dicom_bytes(), "scan.dcm", ""),
                              (jpeg_bytes((5000, 300)), "wide.jpg", "image/jpeg")):
        job_id = _upload(client, data, name, ctype)
        client.s3_put(BUCKET, f"uploads/{job_id}/original")
        item = job_item(job_id)
        assert item is not None and item["status"] == "complete", item
    assert aws.client("s3").head_object(Bucket=BUCKET, Key=f"converted/{job_id}/labels.jpg")


def test_the_rendering_is_the_in_process_renderer_s_to_the_byte() -> None:
    from opsfn.routes.imaging.render import render_dicom

    for name in ("CT_small.dcm", "MR_small_RLE.dcm", "JPEG-lossy.dcm", "JPEG2000.dcm"):
        data = dicom_bytes(name)
        decoded = sandbox.decode(data, DICOM_JOB)
        assert decoded.image == render_dicom(data).png, name


def test_the_child_runs_under_its_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMAGING_SANDBOX_MEMORY_MIB", "700")
    monkeypatch.setenv("IMAGING_SANDBOX_CPU_S", "30")
    limits = sandbox.decode(dicom_bytes(), DICOM_JOB).decoder_limits
    assert limits["address_space"] == 700 * 1024 * 1024
    assert 30 <= limits["cpu_s"] <= 32  # counted from the child's start
    assert limits["file_size"] == spawn.Limits(0, 0).file_size
    assert limits["open_files"] == spawn.Limits(0, 0).open_files
    assert limits["core"] == 0


def test_the_environment_is_an_allow_list() -> None:
    source = {**CREDENTIALS, "PATH": "/usr/bin", "LANG": "C.UTF-8", "HOME": "/root",
              "LAMBDA_TASK_ROOT": "/var/task", "PYTHONPATH": "/elsewhere", "TABLE_NAME": "t",
              "AWS_REGION": "eu-west-1", "_HANDLER": "opsfn.handler.lambda_handler"}
    env = spawn.child_environment(source, "/tmp/x")
    assert not [name for name in env if name.startswith("AWS_")]
    assert env["PATH"] == "/usr/bin" and env["LANG"] == "C.UTF-8"
    assert env["LAMBDA_TASK_ROOT"] == "/var/task"
    assert env["TMPDIR"] == env["HOME"] == "/tmp/x"
    assert env["OPENBLAS_NUM_THREADS"] == "1"
    unexpected = set(env) - set(spawn.ALLOWED_ENVIRONMENT) - set(spawn.SINGLE_THREADED)
    assert unexpected == {"TMPDIR", "HOME"}


def test_the_parent_is_not_dumpable_once_a_child_started() -> None:
    """Same-user processes may read a dumpable process's /proc/<pid>/environ (the credentials)."""
    import ctypes

    sandbox.decode(dicom_bytes(), DICOM_JOB)
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.prctl(spawn.PR_GET_DUMPABLE, 0, 0, 0, 0) == 0


def test_the_child_is_exec_d_in_isolated_mode() -> None:
    command = spawn.command(spawn.Limits(1, 1))
    assert command[0] == sys.executable and command[1:3] == ["-I", "-B"]


def test_one_child_per_upload_and_the_next_one_is_the_spare() -> None:
    first = sandbox.decode(dicom_bytes(), DICOM_JOB)
    spare = sandbox.spare_pid()
    assert spare is not None and spare != first.decoder_pid
    second = sandbox.decode(dicom_bytes("MR_small.dcm"), DICOM_JOB)
    assert second.decoder_pid == spare
    assert sandbox.spare_pid() not in (None, first.decoder_pid, second.decoder_pid)


@pytest.mark.usefixtures("resources")
def test_the_first_upload_starts_its_child_before_reading_the_object(
        client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = spy_decodes(monkeypatch)
    started: list[int | None] = []
    original = processing._read_object

    def reading(*args: Any, **kwargs: Any) -> bytes:
        started.append(sandbox.spare_pid())
        return original(*args, **kwargs)

    monkeypatch.setattr(processing, "_read_object", reading)
    job_id = _upload(client, dicom_bytes(), "scan.dcm")
    client.s3_put(BUCKET, f"uploads/{job_id}/original")
    assert started[0] is not None and started[0] == seen[0].decoder_pid


def test_no_child_or_temporary_directory_outlives_its_use(tmp_path: Path) -> None:
    sandbox.decode(dicom_bytes(), DICOM_JOB)
    with pytest.raises(InvalidContent):
        sandbox.decode(unknown_vr_dicom(), DICOM_JOB)
    assert sandbox.prepare() is not None  # the spare has exec'd and started (cmdline is set)
    children = sandbox_children()
    assert list(children) == [sandbox.spare_pid()]  # the spare alone, no zombie
    assert "Z" not in children.values()
    assert len(list(tmp_path.glob("opsfn-sandbox-*"))) == 1  # the spare's
    sandbox.shutdown()
    assert sandbox_children() == {}
    assert list(tmp_path.glob("opsfn-sandbox-*")) == []


def test_a_parent_killed_outright_leaves_no_child_or_directory(tmp_path: Path) -> None:
    """No atexit runs on SIGKILL: the spare reads EOF, removes its TMPDIR and exits."""
    script = ("import os, sys\n"
              "from opsfn.routes.imaging.sandbox import client\n"
              "print(client.prepare(), flush=True)\n"
              "sys.stdin.read()\n")
    env = {**os.environ, "TMPDIR": str(tmp_path),
           "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    parent = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, env=env)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    assert len(list(tmp_path.glob("opsfn-sandbox-*"))) == 1
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 10
    while _running(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(child)
    assert list(tmp_path.glob("opsfn-sandbox-*")) == []


def _running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (an orphan waits for init to reap it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


def test_the_mutated_vr_that_pydicom_cannot_read_is_refused_for_good() -> None:
    from opsfn.routes.imaging.render import render_dicom

    data = unknown_vr_dicom()
    with pytest.raises(NotImplementedError):  # what escaped the renderer in process
        render_dicom(data)
    with pytest.raises(InvalidContent) as caught:
        sandbox.decode(data, DICOM_JOB)
    assert caught.value.permanent
    assert caught.value.message == work.UNDECODABLE_DICOM
    assert "QX" not in caught.value.message


@pytest.mark.usefixtures("resources")
def test_the_mutated_vr_upload_ends_its_job_and_the_record_succeeds(client: Client) -> None:
    job_id = _upload(client, unknown_vr_dicom(), "scan.dcm")
    assert client.s3_put(BUCKET, f"uploads/{job_id}/original") == {"processed": 1, "records": 1}
    item = job_item(job_id)
    assert item is not None and item["status"] == "error"
    assert item["error"] == work.UNDECODABLE_DICOM
    assert not item.get("retryable")


def _with_stopped_spare(action: Callable[[int], None], budget_s: float | None = None,
                        expect: type[OpsfnError] = InvalidContent) -> Any:
    """Hand an upload to a spare that was stopped first, do ``action(pid)`` once the spare has
    the upload, and return the error (of type ``expect``) the decode ended with."""
    pid = sandbox.prepare()
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    outcome: list[BaseException | Decoded] = []

    def run() -> None:
        try:
            outcome.append(sandbox.decode(dicom_bytes(), DICOM_JOB, budget_s=budget_s))
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 10
    while sandbox.spare_pid() == pid and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sandbox.spare_pid() != pid  # taken: the upload is this child's now
    action(pid)
    thread.join(30)
    assert not thread.is_alive() and len(outcome) == 1
    assert isinstance(outcome[0], expect), outcome
    assert not Path(f"/proc/{pid}").exists() or sandbox_children().get(pid) is None
    return outcome[0]


@pytest.mark.parametrize(("sent", "reason"), [
    (signal.SIGSEGV, sandbox.STOPPED),
    (signal.SIGKILL, sandbox.STOPPED),
    (signal.SIGXCPU, sandbox.CPU_LIMIT),  # what RLIMIT_CPU sends
])
def test_a_child_dying_fails_that_upload_only(sent: signal.Signals, reason: str) -> None:
    def die(pid: int) -> None:
        os.kill(pid, sent)
        os.kill(pid, signal.SIGCONT)

    error = _with_stopped_spare(die)
    assert error.permanent and error.message == reason
    assert sandbox.decode(dicom_bytes(), DICOM_JOB).image  # the next upload is unaffected


def test_a_child_past_the_wall_clock_limit_is_killed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMAGING_SANDBOX_TIMEOUT_S", "0.5")
    started = time.monotonic()
    error = _with_stopped_spare(lambda pid: None)  # stopped: it never answers
    assert error.message == sandbox.TIMED_OUT
    assert time.monotonic() - started < 10


def test_an_invocation_ending_first_is_not_the_upload_s_fault(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The decode is bounded by what the invocation has left; when that runs out before the
    decoder's own timeout, the job is retried (DeadlineExceeded), not failed as invalid."""
    monkeypatch.setenv("IMAGING_SANDBOX_TIMEOUT_S", "60")
    started = time.monotonic()
    error = _with_stopped_spare(lambda pid: None, budget_s=0.5, expect=DeadlineExceeded)
    assert not error.permanent
    assert time.monotonic() - started < 10


def test_a_sandbox_that_cannot_start_is_not_the_upload_s_fault(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from opsfn.errors import InternalError

    monkeypatch.setenv("IMAGING_SANDBOX_MEMORY_MIB", "64")  # too little to import numpy
    with pytest.raises(InternalError) as caught:
        sandbox.decode(dicom_bytes(), DICOM_JOB)
    assert not caught.value.permanent and caught.value.message == sandbox.NOT_STARTED


def test_a_spare_that_died_before_it_was_ready_is_replaced() -> None:
    spare = spawn.Worker(sandbox.limits_from_settings())
    spare.proc.kill()  # before it could write its ready byte
    spare.proc.wait()
    sandbox._spares.worker = spare
    decoded = sandbox.decode(dicom_bytes(), DICOM_JOB)
    assert decoded.image and decoded.decoder_pid != spare.pid


@pytest.mark.usefixtures("resources")
def test_an_upload_the_sandbox_could_not_start_for_is_retried(
        client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    from opsfn.errors import RecordsFailed

    monkeypatch.setenv("IMAGING_SANDBOX_MEMORY_MIB", "64")
    job_id = _upload(client, dicom_bytes(), "scan.dcm")
    with pytest.raises(RecordsFailed):
        client.s3_put(BUCKET, f"uploads/{job_id}/original")
    item = job_item(job_id)
    assert item is not None and item["status"] == "pending" and item.get("retryable")
    monkeypatch.setenv("IMAGING_SANDBOX_MEMORY_MIB", "1024")
    client.s3_put(BUCKET, f"uploads/{job_id}/original")
    item = job_item(job_id)
    assert item is not None and item["status"] == "complete"


def synthetic_dicom(rows: int, columns: int, bits: int) -> bytes:
    """A MONOCHROME2 image of ``bits`` bits per pixel, Explicit VR Little Endian."""
    import io

    import numpy as np
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    meta = FileMetaDataset()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    ds = Dataset()
    ds.file_meta = meta
    ds.Rows, ds.Columns, ds.SamplesPerPixel = rows, columns, 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = bits, bits, bits - 1, 0
    ds.PixelData = np.arange(rows * columns, dtype=f"<u{bits // 8}").tobytes()
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def test_a_decode_over_the_address_space_limit_fails_the_upload(
        monkeypatch: pytest.MonkeyPatch) -> None:
    data = synthetic_dicom(2048, 2048, 32)  # 32-bit samples: decoded and widened in memory
    assert sandbox.decode(data, DICOM_JOB).width == 2048  # fine with the default limit
    monkeypatch.setenv("IMAGING_SANDBOX_MEMORY_MIB", "240")
    with pytest.raises(InvalidContent) as caught:
        sandbox.decode(data, DICOM_JOB)
    assert caught.value.message in (work.TOO_LARGE, sandbox.STOPPED)


def test_a_malformed_reply_is_refused() -> None:
    header = framing.header({"ok": True, "width": 0, "height": 1, "metadata": {}, "blobs": []})
    with pytest.raises(InvalidContent, match="malformed"):
        sandbox.parse_reply(b"".join(header), DICOM_JOB)
    forged = framing.header({"ok": False, "reason": "Patient^Jane\nsaid so"})
    with pytest.raises(InvalidContent) as caught:
        sandbox.parse_reply(b"".join(forged), DICOM_JOB)
    assert caught.value.message == sandbox.FAILED


def test_frames_are_bounded() -> None:
    stream = b"".join(framing.header({"a": 1}) + framing.blob(b"xy", b"z"))
    assert framing.split(stream, 16, 2) == [b'{"a":1}', b"xyz"]
    with pytest.raises(framing.FrameError):
        framing.split(stream, 4, 2)  # the header is longer than 4
    with pytest.raises(framing.FrameError):
        framing.split(stream, 16, 1)  # more frames than expected
    with pytest.raises(framing.FrameError):
        framing.split(stream[:-1], 16, 2)  # cut short


def test_inline_mode_decodes_here_for_debugging(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMAGING_SANDBOX", "inline")
    decoded = sandbox.decode(dicom_bytes(), DICOM_JOB)
    assert decoded.decoder_pid == os.getpid()
    with pytest.raises(InvalidContent):
        sandbox.decode(unknown_vr_dicom(), DICOM_JOB)
    assert sandbox.spare_pid() is None


def test_dicom2png_decodes_in_a_child(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    from opsfn.tooling.cli import main

    seen = spy_decodes(monkeypatch)
    source, out = tmp_path / "in.dcm", tmp_path / "out.png"
    source.write_bytes(dicom_bytes())
    assert main(["dicom2png", str(source), str(out)]) == 0
    assert out.read_bytes().startswith(b"\x89PNG")
    assert seen[0].decoder_pid != os.getpid() and seen[0].credential_variables == []
    assert sandbox.spare_pid() is None  # a one-shot command keeps no spare
    source.write_bytes(unknown_vr_dicom())
    assert main(["dicom2png", str(source), str(out)]) == 1
    assert capsys.readouterr().err == f"error: {work.UNDECODABLE_DICOM}\n"


def test_decoding_works_from_read_only_code(tmp_path: Path) -> None:
    """The child writes nothing where the code lives (no bytecode; Lambda's /var/task is
    read-only) and finds it without PYTHONPATH, which isolated mode ignores."""
    import shutil

    import opsfn

    code = tmp_path / "code"
    shutil.copytree(Path(opsfn.__file__).parent, code / "opsfn",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for path in [code, *code.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    script = (
        "import os, sys\n"
        "from opsfn.routes.imaging.sandbox import client\n"
        "from opsfn.routes.imaging.sandbox.work import Job\n"
        "d = client.decode(sys.stdin.buffer.read(), Job('dicom', 1 << 29, 1 << 26))\n"
        "print(d.decoder_pid != os.getpid(), d.image[:4] == b'\\x89PNG', client.__file__)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(code), "PYTHONDONTWRITEBYTECODE": "1"}
    reply = subprocess.run([sys.executable, "-c", script], input=dicom_bytes(), env=env,
                           capture_output=True, check=True, timeout=60, cwd=tmp_path)
    assert reply.stdout.decode().split() == ["True", "True",
                                             str(code / "opsfn/routes/imaging/sandbox/client.py")]
    assert list(code.rglob("__pycache__")) == []


def test_importing_the_handler_loads_no_decoder() -> None:
    script = ("import sys, opsfn.handler, opsfn.routes.imaging.processing\n"
              "import opsfn.routes.imaging.sandbox.client\n"
              "print(sorted({'numpy', 'pydicom', 'PIL'} & set(sys.modules)))\n")
    reply = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                           check=True, timeout=60, env={**os.environ, "PYTHONPATH": os.pathsep.join(
                               p for p in sys.path if p)})
    assert reply.stdout.strip() == "[]"


def test_a_greyscale_copy_for_rekognition_is_what_the_rgb_first_order_gave() -> None:
    """The copy is resized before it becomes RGB (less memory in the child); same bytes."""
    import io

    import numpy as np
    from PIL import Image

    from opsfn.routes.imaging import labels

    rows = np.add.outer(np.arange(900) * 7, np.arange(1300) * 3) % 251
    grey = Image.fromarray(rows.astype(np.uint8), "L")
    source = io.BytesIO()
    grey.save(source, "PNG")
    expected = io.BytesIO()
    grey.convert("RGB").resize((800, 554), Image.Resampling.LANCZOS).save(expected, "JPEG",
                                                                          quality=90)
    copy = labels.downscale_jpeg(source.getvalue(), 800, 1 << 26)
    assert copy == expected.getvalue()
