"""``opsfn sync`` and the registration of every exports route in the real handler."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from opsfn.routes.exports.cli import Progress, parse_s3_url
from opsfn.routes.exports.sync.model import Counters
from opsfn.services import aws

from .conftest import BUCKET, bucket_keys


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    from opsfn.tooling.cli import main

    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_opsfn_sync_command(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["sync", str(tree), f"s3://{BUCKET}/cli", "--json"], capsys)
    first = json.loads(out)
    assert code == 0 and first["uploaded"] == 6 and first["scanned"] == 6
    assert {"scanned", "uploaded", "skipped", "deleted", "failed", "bytes", "seconds"} <= set(first)
    assert set(bucket_keys("cli/")) == {"cli/a.txt", "cli/a-b.txt", "cli/a/x.txt", "cli/a/y/z.bin",
                                        "cli/b/c.txt", "cli/top.txt"}
    (tree / "top.txt").unlink()
    code, out, _ = run_cli(["sync", str(tree), f"s3://{BUCKET}/cli/", "--delete"], capsys)
    assert code == 0 and "deleted 1" in out and "skipped 5" in out
    assert "cli/top.txt" not in bucket_keys("cli/")


def test_opsfn_sync_rejects_bad_destinations(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["sync", str(tree), "bucket/prefix"], capsys)
    assert code == 2 and "s3://BUCKET/PREFIX" in err
    code, _, err = run_cli(["sync", str(tree / "missing"), f"s3://{BUCKET}/x"], capsys)
    assert code == 1 and "does not exist" in err
    assert parse_s3_url("s3://b") == ("b", "")
    with pytest.raises(ValueError):
        parse_s3_url("s3:///p")


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_only_on_a_terminal() -> None:
    tty, pipe = Tty(), io.StringIO()
    counters = Counters(scanned=5, uploaded=3, bytes=2 * 1024 * 1024)
    for stream in (tty, pipe):
        bar = Progress(stream)
        bar(counters)
        bar.close()
    assert "uploaded 3" in tty.getvalue() and "2.0 MiB" in tty.getvalue()
    assert pipe.getvalue() == ""


def test_every_exports_route_is_registered_in_the_handler() -> None:
    from opsfn.handler import app

    registry = app.registry
    for action in ("export_rds_snapshot", "export_status", "sync_efs_to_s3", "start_backup_job",
                   "backup_job_status"):
        assert action in registry.actions
    assert registry.actions["sync_efs_to_s3"].spec.queue is True
    for schedule in ("export-rds-snapshot", "sync-efs-to-s3"):
        assert schedule in registry.schedules


def test_sync_through_lambda_handler_and_the_action_queue(tree: Path) -> None:
    from opsfn.handler import lambda_handler
    from opsfn.testing import FakeLambdaContext, sqs_event

    reply = lambda_handler(sqs_event([{"action": "sync_efs_to_s3", "prefix": "q/"}], "opsfn-actions"),
                           FakeLambdaContext(600_000))
    assert reply == {"batchItemFailures": []}
    assert len(bucket_keys("q/")) == 6
    assert aws.client("s3").list_objects_v2(Bucket=BUCKET, Prefix="q/")["KeyCount"] == 6


def test_opsfn_sync_never_copies_ssl_dir(tree: Path, capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    (tree / "ssl" / "private").mkdir(parents=True)
    (tree / "ssl" / "private" / "selfsigned.key.pem").write_text("key")
    monkeypatch.setenv("SSL_DIR", str(tree / "ssl"))
    code, out, _ = run_cli(["sync", str(tree), f"s3://{BUCKET}/cli", "--json"], capsys)
    assert code == 0 and json.loads(out)["uploaded"] == 6
    assert not any("ssl/" in key for key in bucket_keys("cli/"))
    code, _, err = run_cli(["sync", str(tree / "ssl"), f"s3://{BUCKET}/x"], capsys)
    assert code == 2 and "SSL_DIR" in err
