"""sync_efs_to_s3 end to end: through the Lambda path, against moto, with real files."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from opsfn.errors import Conflict, NotFound, UpstreamError, ValidationFailed
from opsfn.services import aws, locks
from opsfn.testing import Client
from tests.tables import drain_queue

from .conftest import BUCKET, QUEUE, Unprivileged, bucket_keys, fail_operation

EXPECTED = {"efs/a.txt", "efs/a-b.txt", "efs/a/x.txt", "efs/a/y/z.bin", "efs/b/c.txt", "efs/top.txt"}


def summary(reply: dict[str, Any]) -> dict[str, Any]:
    return {k: reply[k] for k in ("scanned", "uploaded", "skipped", "deleted", "failed")}


def test_first_sync_uploads_everything_with_metadata_and_encryption(client: Client, tree: Path) -> None:
    reply = client.invoke("sync_efs_to_s3")
    assert summary(reply) == {"scanned": 6, "uploaded": 6, "skipped": 0, "deleted": 0, "failed": 0}
    assert reply["complete"] is True and reply["mode"] == "listing"
    assert reply["bytes"] == sum(p.stat().st_size for p in tree.rglob("*") if p.is_file())
    json.dumps(reply)  # JSON-safe
    objects = bucket_keys()
    assert set(objects) == EXPECTED
    assert objects["efs/a/y/z.bin"] == (tree / "a/y/z.bin").read_bytes()
    head = aws.client("s3").head_object(Bucket=BUCKET, Key="efs/a/x.txt")
    assert head["Metadata"]["mode"] == "0640"
    mtime_ns = (tree / "a/x.txt").stat().st_mtime_ns
    assert head["Metadata"]["mtime"] == f"{mtime_ns // 10**9}.{mtime_ns % 10**9:09d}"
    assert head["ServerSideEncryption"] == "AES256"


def test_kms_key_setting_gives_sse_kms(client: Client, tree: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    key_id = aws.client("kms").create_key()["KeyMetadata"]["KeyId"]
    monkeypatch.setenv("SYNC_KMS_KEY_ID", key_id)
    client.invoke("sync_efs_to_s3")
    head = aws.client("s3").head_object(Bucket=BUCKET, Key="efs/top.txt")
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"].endswith(key_id)


def test_no_change_sync_reads_one_manifest_and_makes_no_request_per_file(
        client: Client, tree: Path, s3_calls: list[str]) -> None:
    client.invoke("sync_efs_to_s3")
    s3_calls.clear()
    reply = client.invoke("sync_efs_to_s3")
    assert summary(reply) == {"scanned": 6, "uploaded": 0, "skipped": 6, "deleted": 0, "failed": 0}
    assert reply["mode"] == "manifest"
    assert s3_calls == ["GetObject"]  # the manifest; no HEAD, no listing, no rewrite


def test_listing_compare_skips_unchanged_files_without_head(client: Client, tree: Path,
                                                           s3_calls: list[str]) -> None:
    client.invoke("sync_efs_to_s3")
    s3_calls.clear()
    reply = client.invoke("sync_efs_to_s3", compare="listing")
    assert reply["mode"] == "listing" and reply["skipped"] == 6 and reply["uploaded"] == 0
    assert "HeadObject" not in s3_calls and s3_calls.count("ListObjectsV2") == 1


def test_changed_and_removed_files(client: Client, tree: Path) -> None:
    client.invoke("sync_efs_to_s3")
    changed = tree / "a" / "x.txt"
    changed.write_bytes(b"y" * 100)  # same size: only the mtime tells
    os.utime(changed, ns=(changed.stat().st_atime_ns, changed.stat().st_mtime_ns + 5_000_000_000))
    (tree / "b" / "c.txt").unlink()
    (tree / "new.txt").write_text("new")

    kept = client.invoke("sync_efs_to_s3")
    assert summary(kept) == {"scanned": 6, "uploaded": 2, "skipped": 4, "deleted": 0, "failed": 0}
    objects = bucket_keys()
    assert objects["efs/a/x.txt"] == b"y" * 100
    assert "efs/b/c.txt" in objects  # deletion is opt-in

    deleted = client.invoke("sync_efs_to_s3", delete=True)
    assert summary(deleted) == {"scanned": 6, "uploaded": 0, "skipped": 6, "deleted": 1, "failed": 0}
    assert set(bucket_keys()) == (EXPECTED - {"efs/b/c.txt"}) | {"efs/new.txt"}
    again = client.invoke("sync_efs_to_s3", delete=True)
    assert again["deleted"] == 0 and again["uploaded"] == 0


@pytest.fixture
def open_tree(monkeypatch: pytest.MonkeyPatch, aws_env: dict[str, str]) -> Iterator[Path]:
    """A tree another user can traverse (pytest's tmp dirs are private to root)."""
    base = Path(tempfile.mkdtemp(prefix="opsfn-sync-"))
    base.chmod(0o755)
    for rel, data in {"ok.txt": b"ok", "secret.txt": b"no", "locked/inner.txt": b"in",
                      "open/f.txt": b"f"}.items():
        path = base / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        path.chmod(0o644)
        path.parent.chmod(0o755)
    monkeypatch.setenv("SYNC_SOURCE_DIR", str(base))
    monkeypatch.setenv("SYNC_BUCKET", BUCKET)
    monkeypatch.setenv("SYNC_PREFIX", "efs/")
    yield base
    shutil.rmtree(base, ignore_errors=True)


def test_unreadable_files_are_reported_and_skipped_and_never_deleted(
        client: Client, open_tree: Path, as_nobody: Unprivileged,
        monkeypatch: pytest.MonkeyPatch) -> None:
    first = as_nobody(lambda: client.invoke("sync_efs_to_s3"))
    assert first["uploaded"] == 4
    (open_tree / "secret.txt").chmod(0o000)
    (open_tree / "secret.txt").write_bytes(b"changed")  # root may still write it
    (open_tree / "locked").chmod(0o000)
    (open_tree / "ok.txt").write_bytes(b"ok, changed")
    reply = as_nobody(lambda: client.invoke("sync_efs_to_s3", delete=True))
    assert reply["failed"] == 2  # the file and the directory
    assert reply["uploaded"] == 1 and reply["deleted"] == 0
    objects = bucket_keys()
    assert objects["efs/secret.txt"] == b"no" and objects["efs/locked/inner.txt"] == b"in"
    assert objects["efs/ok.txt"] == b"ok, changed"
    # Once readable again the file is uploaded: its old manifest entry does not match.
    (open_tree / "secret.txt").chmod(0o644)
    (open_tree / "locked").chmod(0o755)
    healed = as_nobody(lambda: client.invoke("sync_efs_to_s3", delete=True))
    assert healed["failed"] == 0 and healed["uploaded"] == 1
    assert bucket_keys()["efs/secret.txt"] == b"changed"


class StopAfter:
    """A deadline that arrives after ``n`` planned steps (the real one is time-based)."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __call__(self, *budget: Any) -> bool:
        self.n -= 1
        return self.n < 0


def test_deadline_stops_cleanly_and_the_queued_checkpoint_resumes(
        client: Client, tree: Path, aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    from opsfn.routes.exports.sync import routes

    stopper = StopAfter(3)
    monkeypatch.setattr(routes.Budget, "should_stop", stopper)
    first = client.invoke("sync_efs_to_s3")
    assert first["continued"] is True and first["complete"] is False
    assert first["scanned"] == 3 and first["uploaded"] == 3
    assert "resume_after" not in json.dumps(first)  # no file names in replies
    [item] = drain_queue(aws_env["queue_url"])
    assert item["action"] == "sync_efs_to_s3" and item["seq"] == 1 and item["resume_after"]
    assert len(bucket_keys()) == 3

    monkeypatch.setattr(routes.Budget, "should_stop", lambda self: False)
    outcome = client.sqs([item], queue=QUEUE)
    assert outcome == {"batchItemFailures": []}
    assert set(bucket_keys()) == EXPECTED
    assert drain_queue(aws_env["queue_url"]) == []
    # The resumed run wrote one complete manifest and removed its partial segment.
    state = aws.client("s3").list_objects_v2(Bucket=BUCKET, Prefix=".opsfn-sync/")
    assert [o["Key"].rsplit("/", 1)[-1] for o in state["Contents"]] == ["manifest.jsonl.gz"]
    again = client.invoke("sync_efs_to_s3")
    assert again["mode"] == "manifest" and again["skipped"] == 6 and again["uploaded"] == 0

    # A duplicated delivery of the finished work item does nothing.
    assert client.sqs([item], queue=QUEUE) == {"batchItemFailures": []}
    assert client.invoke("sync_efs_to_s3", **{k: v for k, v in item.items() if k != "action"}) == {
        "status": "duplicate", "complete": True}


def test_no_time_at_all_is_a_clear_error_not_an_endless_chain(
        client: Client, tree: Path, aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNC_DEADLINE_MARGIN_MS", "5000")
    short = Client(client.app, timeout_ms=1000)
    with pytest.raises(Exception) as caught:
        short.invoke("sync_efs_to_s3")
    assert type(caught.value).__name__ == "DeadlineExceeded"
    assert drain_queue(aws_env["queue_url"]) == []


def test_sharding_fans_top_level_directories_out_through_the_queue(
        client: Client, tree: Path, aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNC_SHARD_TOP_LEVEL", "true")
    first = client.invoke("sync_efs_to_s3")
    assert first["shards"] == 2 and first["uploaded"] == 3  # a.txt, a-b.txt, top.txt
    items = drain_queue(aws_env["queue_url"])
    assert sorted(i["shard"] for i in items) == ["a", "b"]
    assert client.sqs(items, queue=QUEUE) == {"batchItemFailures": []}
    assert set(bucket_keys()) == EXPECTED
    # A directory removed locally is a shard too when deleting, so its objects go.
    shutil.rmtree(tree / "b")
    client.invoke("sync_efs_to_s3", delete=True)
    items = drain_queue(aws_env["queue_url"])
    assert sorted(i["shard"] for i in items) == ["a", "b"]
    assert client.sqs(items, queue=QUEUE) == {"batchItemFailures": []}
    assert set(bucket_keys()) == EXPECTED - {"efs/b/c.txt"}


def test_one_sync_per_target(client: Client, tree: Path) -> None:
    from opsfn.routes.exports.sync.remote import Target

    held = locks.acquire(Target(BUCKET, "efs/").lock_id, 300)
    try:
        with pytest.raises(Conflict):
            client.invoke("sync_efs_to_s3")
        assert client.schedule("sync-efs-to-s3")["result"]["status"] == "busy"
        # Another prefix is another target.
        assert client.invoke("sync_efs_to_s3", prefix="other/")["uploaded"] == 6
    finally:
        locks.release(held)


def test_schedule_runs_the_configured_sync(client: Client, tree: Path) -> None:
    reply = client.schedule("sync-efs-to-s3")
    assert reply["schedule"] == "schedule:sync-efs-to-s3"
    assert reply["result"]["uploaded"] == 6 and reply["result"]["complete"] is True
    assert client.schedule("sync-efs-to-s3", scheduler=True)["result"]["skipped"] == 6


def test_missing_source_and_settings_are_clear_errors(client: Client, tree: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNC_SOURCE_DIR", str(tree / "not-mounted"))
    with pytest.raises(NotFound, match="mounted"):
        client.invoke("sync_efs_to_s3", delete=True)
    with pytest.raises(NotFound, match="mounted"):
        client.invoke("sync_efs_to_s3", delete=True, shard_by_top_level=True)
    monkeypatch.delenv("SYNC_BUCKET")
    with pytest.raises(Exception, match="SYNC_BUCKET"):
        client.invoke("sync_efs_to_s3")


def test_bad_payloads_name_the_field(client: Client, tree: Path) -> None:
    with pytest.raises(ValidationFailed) as caught:
        client.invoke("sync_efs_to_s3", shard="../etc")
    assert caught.value.details[0]["loc"] == "payload.shard"
    with pytest.raises(ValidationFailed) as caught:
        client.invoke("sync_efs_to_s3", unknown=1)
    assert caught.value.details[0]["loc"] == "payload.unknown"
    with pytest.raises(ValidationFailed):
        client.invoke("sync_efs_to_s3", resume_after="a")


@pytest.mark.parametrize(("code", "status"), [("AccessDenied", 403), ("SlowDown", 503)])
def test_failing_uploads_are_clear_upstream_errors(client: Client, tree: Path,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   code: str, status: int) -> None:
    fail_operation(monkeypatch, "PutObject", code, status)
    with pytest.raises(UpstreamError) as caught:
        client.invoke("sync_efs_to_s3")
    assert caught.value.message == f"AWS PutObject failed: {code}"
    from opsfn.routes.exports.sync.remote import Target

    assert locks.holder_expiry(Target(BUCKET, "efs/").lock_id) is None  # lock released


def test_failing_listing_is_a_clear_upstream_error(client: Client, tree: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    fail_operation(monkeypatch, "ListObjectsV2", "AccessDenied", 403)
    with pytest.raises(UpstreamError, match="AWS ListObjectsV2 failed: AccessDenied"):
        client.invoke("sync_efs_to_s3")


def test_small_files_take_the_lean_put_and_fall_back_to_the_sdk_on_errors(
        client: Client, tree: Path, s3_calls: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from opsfn.routes.exports.sync import fastput

    sent: list[int] = []
    real_put = fastput.FastPut.put

    def counting(self: Any, key: str, body: bytes, headers: dict[str, str]) -> bool:
        done = real_put(self, key, body, headers)
        sent.append(done)
        return done

    monkeypatch.setattr(fastput.FastPut, "put", counting)
    client.invoke("sync_efs_to_s3")
    assert sent == [True] * 6
    assert s3_calls.count("PutObject") == 1  # only the manifest went through put_object

    # When the lean request is refused, put_object sends the file instead.
    for path in tree.rglob("*.txt"):
        path.write_bytes(b"changed " + path.read_bytes())
    s3_calls.clear()
    monkeypatch.setattr(fastput.FastPut, "put", lambda *args: False)
    reply = client.invoke("sync_efs_to_s3")
    assert reply["uploaded"] == 5 and s3_calls.count("PutObject") == 6
    assert bucket_keys()["efs/top.txt"] == b"changed top"


def test_resume_in_manifest_mode_with_deletes_joins_segments(tree: Path) -> None:
    from opsfn.routes.exports.sync.engine import SyncJob, run_sync
    from opsfn.routes.exports.sync.remote import Target
    from opsfn.routes.exports.sync.uploader import UploadOptions

    def job(seq: int, resume_after: str | None) -> SyncJob:
        return SyncJob(root=str(tree), target=Target(BUCKET, "m/"), upload=UploadOptions(BUCKET),
                       delete=True, run_id="run-1", seq=seq, resume_after=resume_after)

    assert run_sync(job(0, None)).counters.uploaded == 6
    (tree / "a.txt").unlink()
    (tree / "top.txt").write_text("new top")
    os.utime(tree / "top.txt", ns=(1, 1))  # an mtime older than the upload: only a manifest sees it
    calls = iter([False, False, True])
    first = run_sync(job(0, None), should_stop=lambda: next(calls, True))
    assert first.mode == "manifest" and first.checkpoint is not None
    assert first.counters.deleted == 1  # "a-b.txt" skipped, "a.txt" deleted, then stopped
    rest = run_sync(job(1, first.checkpoint))
    assert rest.checkpoint is None and rest.counters.uploaded == 1
    assert bucket_keys("m/")["m/top.txt"] == b"new top" and "m/a.txt" not in bucket_keys("m/")
    state = aws.client("s3").list_objects_v2(Bucket=BUCKET, Prefix=".opsfn-sync/")["Contents"]
    assert [o["Key"].rsplit("/", 1)[-1] for o in state] == ["manifest.jsonl.gz"]
    final = run_sync(job(0, None))
    assert (final.mode, final.counters.uploaded, final.counters.skipped) == ("manifest", 0, 5)


@pytest.fixture
def tls_in_tree(tree: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """TLS materials on the same file system, inside the synced tree (as the template lays out)."""
    ssl = tree / "ssl"
    (ssl / "private").mkdir(parents=True)
    (ssl / "certs").mkdir()
    (ssl / "private" / "selfsigned.key.pem").write_text("-----BEGIN PRIVATE KEY-----\nsecret\n")
    (ssl / "certs" / "selfsigned.cert.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    monkeypatch.setenv("SSL_DIR", str(ssl))
    return ssl


def test_the_tls_directory_is_never_copied(client: Client, tls_in_tree: Path) -> None:
    reply = client.invoke("sync_efs_to_s3")
    assert reply["uploaded"] == len(EXPECTED) and set(bucket_keys()) == EXPECTED


def test_tls_objects_an_older_sync_left_are_deleted_with_delete(
        client: Client, tree: Path, tls_in_tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSL_DIR")
    client.invoke("sync_efs_to_s3")
    assert "efs/ssl/private/selfsigned.key.pem" in bucket_keys()
    monkeypatch.setenv("SSL_DIR", str(tls_in_tree))
    reply = client.invoke("sync_efs_to_s3", delete=True)
    assert reply["deleted"] == 2 and set(bucket_keys()) == EXPECTED


def test_sharded_runs_skip_the_tls_directory_and_clean_it_up(
        client: Client, tree: Path, tls_in_tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSL_DIR")
    client.invoke("sync_efs_to_s3")
    monkeypatch.setenv("SSL_DIR", str(tls_in_tree))
    client.invoke("sync_efs_to_s3", shard_by_top_level=True, delete=True)
    for _ in range(5):  # run the fanned-out work items until the queue is empty
        items = drain_queue(aws.client("sqs").get_queue_url(QueueName=QUEUE)["QueueUrl"])
        if not items:
            break
        for item in items:
            client.invoke(item.pop("action"), **item)
    assert set(bucket_keys()) == EXPECTED


def test_excluded_dirs_are_found_by_real_path(tmp_path: Path) -> None:
    from opsfn.routes.exports.sync.walk import excluded_dirs

    root = tmp_path / "root"
    (root / "a" / "ssl").mkdir(parents=True)
    (tmp_path / "link").symlink_to(root / "a" / "ssl")
    assert excluded_dirs(str(root), [str(root / "a" / "ssl")]) == {"a/ssl/"}
    assert excluded_dirs(str(root), [str(tmp_path / "link")]) == {"a/ssl/"}
    assert excluded_dirs(str(root / "a" / "ssl"), [str(root / "a" / "ssl")]) == {""}
    assert excluded_dirs(str(root), [str(tmp_path / "elsewhere")]) == frozenset()


def test_a_file_link_into_the_tls_directory_is_not_followed(client: Client, tree: Path,
                                                            tls_in_tree: Path) -> None:
    (tree / "a" / "key.pem").symlink_to(tls_in_tree / "private" / "selfsigned.key.pem")
    reply = client.invoke("sync_efs_to_s3")
    assert set(bucket_keys()) == EXPECTED and reply["skipped"] == 1


def test_a_source_inside_the_tls_directory_is_a_setting_error(
        client: Client, tree: Path, tls_in_tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from opsfn.errors import InvalidSetting

    monkeypatch.setenv("SYNC_SOURCE_DIR", str(tls_in_tree / "private"))
    with pytest.raises(InvalidSetting) as caught:
        client.invoke("sync_efs_to_s3", delete=True)
    assert "SSL_DIR" in caught.value.message and bucket_keys() == {}


def test_a_scoped_sync_signs_every_upload_with_its_own_session(
        client: Client, tree: Path, routes_role: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The sync's own S3 client, its upload threads and its lean PUTs all carry the route's
    session of the routes role, narrowed to what the sync declared."""
    from moto.sts.models import sts_backends

    from opsfn.routes.exports.sync import fastput, uploader

    signed: list[str] = []
    made = uploader.s3_client

    def recording(pool: int) -> Any:
        found = made(pool)
        found.meta.events.register("before-send.s3", lambda request, **_: signed.append(
            request.headers["Authorization"].decode().split("Credential=")[1].split("/")[0]))
        return found

    lean_keys: list[str] = []
    real_put = fastput.FastPut.put

    def counting(self: Any, key: str, body: bytes, headers: dict[str, str]) -> bool:
        lean_keys.append(self.credentials.get_frozen_credentials().access_key)
        return bool(real_put(self, key, body, headers))

    monkeypatch.setattr(uploader, "s3_client", recording)
    monkeypatch.setattr(fastput.FastPut, "put", counting)
    reply = client.invoke("sync_efs_to_s3")
    assert reply["uploaded"] == 6
    [session] = [s for s in sts_backends["123456789012"]["global"].assumed_roles
                 if s.role_arn == routes_role]
    assert session.session_name == "opsfn-action-sync_efs_to_s3"
    statements = json.loads(session.policy)["Statement"]
    puts = [s for s in statements if "s3:PutObject" in s["Action"]]
    assert [s["Resource"] for s in puts] == [[f"arn:aws:s3:::{BUCKET}/efs/*",
                                             f"arn:aws:s3:::{BUCKET}/.opsfn-sync/*"]]
    assert signed and set(signed) == {session.access_key_id}
    assert lean_keys and set(lean_keys) == {session.access_key_id}
