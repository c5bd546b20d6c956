"""TLS materials end to end: action, schedule and custom resource through the Lambda path."""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path

import pytest

from opsfn.errors import Conflict, MissingSetting, ValidationFailed
from opsfn.routes.tls import certs
from opsfn.testing import Client


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _files(root: Path) -> dict[str, Path]:
    return {"key": root / "private/selfsigned.key.pem", "cert": root / "certs/selfsigned.cert.pem",
            "web_key": root / "private/webserver.key.pem",
            "web_cert": root / "certs/webserver.cert.pem",
            "marker": root / "docker-selfsigned-configured"}


def test_first_run_writes_the_layout(client: Client, ssl_dir: Path) -> None:
    reply = client.invoke("generate_ssl_materials")
    files = _files(ssl_dir)
    assert reply["regenerated"] is True and reply["reason"] == "missing"
    assert reply["paths"] == {"key": str(files["key"]), "cert": str(files["cert"]),
                              "webserver_key": str(files["web_key"]),
                              "webserver_cert": str(files["web_cert"]),
                              "marker": str(files["marker"])}
    assert _mode(files["key"]) == 0o600 and _mode(files["web_key"]) == 0o600
    assert _mode(files["cert"]) == 0o644 and _mode(files["web_cert"]) == 0o644
    assert files["marker"].is_file()
    assert files["web_key"].read_bytes() == files["key"].read_bytes()
    assert files["web_cert"].read_bytes() == files["cert"].read_bytes()
    info = certs.describe(files["cert"].read_bytes())
    assert reply["fingerprint_sha256"] == info.fingerprint_sha256
    assert reply["not_after"] == info.not_after.isoformat()
    assert (reply["common_name"], reply["subject_alt_names"], reply["key_type"]) == (
        "localhost", ["localhost"], "rsa-2048")
    assert certs.key_matches(files["cert"].read_bytes(), files["key"].read_bytes())
    assert "PRIVATE KEY" not in json.dumps(reply)
    assert not (ssl_dir / ".opsfn-ssl.lock").exists()


def test_second_run_reports_current(client: Client, ssl_dir: Path) -> None:
    first = client.invoke("generate_ssl_materials")
    key_before = _files(ssl_dir)["key"].read_bytes()
    second = client.invoke("generate_ssl_materials")
    assert second["regenerated"] is False and second["reason"] == "current"
    assert second["fingerprint_sha256"] == first["fingerprint_sha256"]
    assert _files(ssl_dir)["key"].read_bytes() == key_before


def test_expiring_mismatched_and_unreadable_material_is_regenerated(
        client: Client, ssl_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = client.invoke("generate_ssl_materials", validity_days=5)
    again = client.invoke("generate_ssl_materials")  # 5 days left < 7-day window
    assert again["regenerated"] and again["reason"] == "expiring"
    assert again["fingerprint_sha256"] != first["fingerprint_sha256"]

    files = _files(ssl_dir)
    other = certs.generate(certs.CertSpec())
    files["key"].write_bytes(other.key_pem)
    mismatch = client.invoke("generate_ssl_materials")
    assert mismatch["reason"] == "key_mismatch"
    assert certs.key_matches(files["cert"].read_bytes(), files["key"].read_bytes())

    files["cert"].write_bytes(b"-----BEGIN CERTIFICATE-----\ntruncated")
    assert client.invoke("generate_ssl_materials")["reason"] == "unreadable"

    monkeypatch.setenv("SSL_RENEW_BEFORE_DAYS", "400")  # the setting widens the window
    assert client.invoke("generate_ssl_materials")["reason"] == "expiring"


def test_copies_are_repaired_without_regenerating(client: Client, ssl_dir: Path) -> None:
    first = client.invoke("generate_ssl_materials")
    files = _files(ssl_dir)
    files["web_cert"].unlink()
    files["web_key"].write_bytes(b"stale")
    files["marker"].unlink()
    reply = client.invoke("generate_ssl_materials")
    assert reply["regenerated"] is False and reply["copies_refreshed"] is True
    assert reply["fingerprint_sha256"] == first["fingerprint_sha256"]
    assert files["web_key"].read_bytes() == files["key"].read_bytes()
    assert files["web_cert"].read_bytes() == files["cert"].read_bytes()
    assert files["marker"].is_file()


def test_payload_names_ecdsa_and_force(client: Client, ssl_dir: Path) -> None:
    reply = client.invoke("generate_ssl_materials", common_name="emr.internal",
                          subject_alt_names=["emr.internal", "10.0.0.5"], key_type="ecdsa-p256",
                          validity_days=30)
    assert (reply["common_name"], reply["key_type"]) == ("emr.internal", "ecdsa-p256")
    assert sorted(reply["subject_alt_names"]) == ["10.0.0.5", "emr.internal"]
    same = client.invoke("generate_ssl_materials", common_name="emr.internal",
                         subject_alt_names=["emr.internal", "10.0.0.5"], key_type="ecdsa-p256")
    assert same["regenerated"] is False
    changed = client.invoke("generate_ssl_materials", key_type="rsa-2048")
    assert changed["reason"] == "spec_changed" and changed["key_type"] == "rsa-2048"
    forced = client.invoke("generate_ssl_materials", force=True)
    assert forced["reason"] == "forced"
    assert forced["fingerprint_sha256"] != changed["fingerprint_sha256"]


def test_schedule_renews_and_keeps_the_names(client: Client, ssl_dir: Path) -> None:
    client.invoke("generate_ssl_materials", common_name="web", subject_alt_names=["web"],
                  key_type="ecdsa-p256", validity_days=3)
    result = client.schedule("rotate-ssl-materials")
    assert result["schedule"] == "schedule:rotate-ssl-materials"
    renewed = result["result"]
    assert renewed["regenerated"] and renewed["reason"] == "expiring"
    assert (renewed["common_name"], renewed["subject_alt_names"], renewed["key_type"]) == (
        "web", ["web"], "ecdsa-p256")
    quiet = client.schedule("rotate-ssl-materials", scheduler=True)["result"]
    assert quiet["regenerated"] is False


def test_bad_input_and_missing_setting(client: Client, ssl_dir: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationFailed) as caught:
        client.invoke("generate_ssl_materials", subject_alt_names=["bad name!"])
    assert caught.value.details[0]["loc"] == "payload.subject_alt_names"
    with pytest.raises(ValidationFailed):
        client.invoke("generate_ssl_materials", key_type="dsa")
    with pytest.raises(ValidationFailed):
        client.invoke("generate_ssl_materials", unknown=1)
    assert not any(ssl_dir.iterdir())
    monkeypatch.delenv("SSL_DIR")
    with pytest.raises(MissingSetting, match="SSL_DIR"):
        client.invoke("generate_ssl_materials")


def test_a_held_lock_conflicts_and_a_stale_one_is_broken(client: Client, ssl_dir: Path) -> None:
    lock = ssl_dir / ".opsfn-ssl.lock"
    lock.write_text(json.dumps({"token": "deploy-run", "created": time.time()}))
    with pytest.raises(Conflict):
        client.invoke("generate_ssl_materials")
    assert not _files(ssl_dir)["key"].exists()
    lock.write_text(json.dumps({"token": "crashed-run", "created": time.time() - 3600}))
    reply = client.invoke("generate_ssl_materials")
    assert reply["stale_lock_broken"] is True and reply["regenerated"] is True
    assert not lock.exists()


def test_custom_resource_lifecycle(client: Client, ssl_dir: Path) -> None:
    props = {"CommonName": "app.local", "SubjectAltNames": "app.local,localhost"}
    created = client.custom_resource("Create", "Custom::SslMaterials", props)
    assert created["Status"] == "SUCCESS", created["Reason"]
    data = created["Data"]
    files = _files(ssl_dir)
    assert data["CertificatePath"] == str(files["cert"]) and data["Regenerated"] == "true"
    assert data["Fingerprint"] == certs.describe(files["cert"].read_bytes()).fingerprint_sha256
    physical = created["PhysicalResourceId"]

    retried = client.custom_resource("Create", "Custom::SslMaterials", props)
    assert retried["PhysicalResourceId"] == physical and retried["Data"]["Regenerated"] == "false"

    updated = client.custom_resource("Update", "Custom::SslMaterials",
                                     {**props, "CommonName": "app2.local"}, old_properties=props,
                                     physical_id=physical)
    assert updated["Status"] == "SUCCESS" and updated["Data"]["Regenerated"] == "true"
    assert updated["PhysicalResourceId"] == physical
    assert certs.describe(files["cert"].read_bytes()).common_name == "app2.local"

    deleted = client.custom_resource("Delete", "Custom::SslMaterials", props, physical_id=physical)
    assert deleted["Status"] == "SUCCESS"
    assert all(path.exists() for path in files.values())  # Delete leaves the files


def test_custom_resource_failures_are_clear(client: Client, ssl_dir: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    bad = client.custom_resource("Create", "Custom::SslMaterials", {"ValidityDays": "0"})
    assert bad["Status"] == "FAILED" and "ValidityDays" in bad["Reason"]
    typo = client.custom_resource("Create", "Custom::SslMaterials", {"CommonNme": "x"})
    assert typo["Status"] == "FAILED" and "CommonNme" in typo["Reason"]
    monkeypatch.setenv("SSL_DIR", str(ssl_dir / "not-mounted" / "ssl"))
    unmounted = client.custom_resource("Create", "Custom::SslMaterials", {})
    assert unmounted["Status"] == "FAILED"
    assert unmounted["Reason"] == "SSL_DIR is not on a mounted file system"
    monkeypatch.setenv("SSL_DIR", str(ssl_dir / "ssl"))  # first use below the mount point
    first = client.custom_resource("Create", "Custom::SslMaterials", {})
    assert first["Status"] == "SUCCESS" and (ssl_dir / "ssl/certs/selfsigned.cert.pem").is_file()


def test_settings_choose_names_and_key_type(client: Client, ssl_dir: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_KEY_TYPE", "ecdsa-p256")
    monkeypatch.setenv("SSL_COMMON_NAME", "openemr")
    monkeypatch.setenv("SSL_SUBJECT_ALT_NAMES", "openemr, localhost")
    monkeypatch.setenv("SSL_VALIDITY_DAYS", "90")
    reply = client.invoke("generate_ssl_materials")
    assert (reply["key_type"], reply["common_name"]) == ("ecdsa-p256", "openemr")
    assert sorted(reply["subject_alt_names"]) == ["localhost", "openemr"]
    info = certs.describe(_files(ssl_dir)["cert"].read_bytes())
    assert (info.not_after - info.not_before).days == 90


def test_concurrent_runs_generate_once(ssl_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A schedule run and a deploy run at the same moment: one writes, the other finds it current."""
    import threading

    from opsfn.routes.tls.routes import Layout, SslInput, ensure_materials

    monkeypatch.setenv("SSL_LOCK_WAIT_SECONDS", "30")
    barrier = threading.Barrier(4)
    results: list[dict[str, object]] = []

    def run() -> None:
        barrier.wait()
        results.append(ensure_materials(Layout(ssl_dir), SslInput()).model_dump())

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(results) == 4
    assert sorted(r["reason"] for r in results) == ["current", "current", "current", "missing"]
    assert len({r["fingerprint_sha256"] for r in results}) == 1
    assert certs.key_matches(_files(ssl_dir)["cert"].read_bytes(),
                             _files(ssl_dir)["key"].read_bytes())


def test_action_queue_delivery_and_duplicates(client: Client, ssl_dir: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The same work item delivered twice through the action queue regenerates once."""
    monkeypatch.setenv("OPSFN_ACTION_QUEUE", "opsfn-actions")
    item = {"action": "generate_ssl_materials", "common_name": "queued"}
    reply = client.sqs([item, item], queue="opsfn-actions")
    assert reply == {"batchItemFailures": []}
    info = certs.describe(_files(ssl_dir)["cert"].read_bytes())
    assert info.common_name == "queued"
    first_key = _files(ssl_dir)["key"].read_bytes()
    client.sqs([item], queue="opsfn-actions")
    assert _files(ssl_dir)["key"].read_bytes() == first_key
