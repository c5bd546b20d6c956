"""TLS on the OpenEMR stack's layout: SSL_DIR at the root of the SSL file system, material as the
stack's certificate task wrote it, and permissions checked as a non-root uid.

The stack's task ran, as root in a container with the SSL file system mounted at ``/etc/ssl/``::

    mkdir -p /etc/ssl/certs/ /etc/ssl/private/ && openssl genrsa 2048 > .../selfsigned.key.pem && ...

so its directories are root-owned 0755 and its key is 0644 (umask 022). The fixture below writes
the tree the same way, with the openssl command line. The suite runs as root, so the non-root
cases run the function in a child process that drops to uid/gid 1000 with setgid/setuid before
it imports anything.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from opsfn.routes.tls import certs
from opsfn.testing import Client

UID = GID = 1000
KEY, CERT = "private/selfsigned.key.pem", "certs/selfsigned.cert.pem"
WEB_KEY, WEB_CERT = "private/webserver.key.pem", "certs/webserver.cert.pem"
MARKER = "docker-selfsigned-configured"

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("openssl") is None,
                                reason="needs root (to drop privileges) and openssl")

# The child: warm up as root, drop privileges, then run one request through the Lambda path and
# print the answer. The interpreter and its standard library live under /root (0700), so every
# module the request needs is imported first, by the same request on a scratch directory.
CHILD = r"""
import json, os, sys, tempfile
spec = json.loads(sys.argv[1])
from opsfn.core.app import App
from opsfn.errors import OpsfnError
from opsfn.routes import tls
from opsfn.testing import Client
client = Client(App([tls.router]))

def run():
    if spec["call"] == "custom_resource":
        return client.custom_resource("Create", "Custom::SslMaterials", spec["payload"])
    try:
        return {"ok": client.invoke("generate_ssl_materials", **spec["payload"])}
    except OpsfnError as error:
        return {"error": error.code, "message": error.message}

target = os.environ["SSL_DIR"]
with tempfile.TemporaryDirectory() as scratch:
    os.environ["SSL_DIR"] = scratch
    run()
    os.chmod(scratch, 0o500)
    run()  # the error path too
    os.chmod(scratch, 0o700)
os.environ["SSL_DIR"] = target
os.setgroups([])
os.setgid(spec["gid"])
os.setuid(spec["uid"])
assert os.geteuid() == spec["uid"] and os.getegid() == spec["gid"]
print(json.dumps(run()))
"""


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def _stack_task(root: Path, days: int = 365) -> None:
    """What the stack's certificate task does, with the openssl CLI and umask 022."""
    script = (
        "umask 022 && mkdir -p certs private && "
        f"openssl genrsa 2048 > {KEY} 2>/dev/null && "
        f"openssl req -new -x509 -nodes -sha256 -days {days} -key {KEY} -outform PEM "
        f"-out {CERT} -subj /CN=localhost && "
        f"cp {KEY} {WEB_KEY} && cp {CERT} {WEB_CERT} && touch {MARKER}"
    )
    subprocess.run(["sh", "-c", script], cwd=root, check=True, capture_output=True)


@pytest.fixture
def mount() -> Iterator[Path]:
    """The SSL file system's root as the function mounts it: root-owned 0755, outside the
    per-test tmp tree (pytest makes that 0700, which uid 1000 could not even enter)."""
    base = Path(tempfile.mkdtemp(prefix="opsfn-ssl-efs-"))
    base.chmod(0o755)
    root = base / "efs"
    root.mkdir(mode=0o755)
    yield root
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def stack_material(mount: Path) -> Path:
    _stack_task(mount)
    return mount


def _child(root: Path, call: str, payload: dict[str, Any] | None = None,
           env: dict[str, str] | None = None) -> dict[str, Any]:
    spec = {"uid": UID, "gid": GID, "call": call, "payload": payload or {}}
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/nonexistent",
        "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": os.pathsep.join(sys.path),
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing", "SSL_DIR": str(root), "SSL_LOCK_WAIT_SECONDS": "0",
        **(env or {}),
    }
    done = subprocess.run([sys.executable, "-c", CHILD, json.dumps(spec)], env=environment,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    answer: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


def _snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    return {name: ((root / name).read_bytes(), _mode(root / name))
            for name in (KEY, CERT, WEB_KEY, WEB_CERT)}


def _chown(*paths: Path) -> None:
    for path in paths:
        os.chown(path, UID, GID)


# -- what the container finds ---------------------------------------------------------------------
def test_at_the_mount_root_the_container_finds_its_files(client: Client, mount: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """First run on an empty SSL file system: the paths the container's entrypoint and Apache
    read below /etc/ssl, so it neither generates its own certificate nor relinks the copies."""
    monkeypatch.setenv("SSL_DIR", str(mount))
    monkeypatch.setenv("SSL_LOCK_WAIT_SECONDS", "0")
    created = client.custom_resource("Create", "Custom::SslMaterials",
                                     {"CommonName": "localhost", "SubjectAltNames": ["localhost"]})
    assert created["Status"] == "SUCCESS", created["Reason"]
    assert created["Data"]["KeyPath"] == str(mount / KEY)
    assert created["Data"]["CertificatePath"] == str(mount / CERT)
    assert created["Data"]["KeyPermissions"] == "ok"
    assert sorted(str(p.relative_to(mount)) for p in mount.rglob("*")) == [
        "certs", CERT, WEB_CERT, MARKER, "private", KEY, WEB_KEY]
    assert _mode(mount / KEY) == _mode(mount / WEB_KEY) == 0o600
    assert _mode(mount / CERT) == _mode(mount / WEB_CERT) == 0o644
    assert certs.key_matches((mount / WEB_CERT).read_bytes(), (mount / WEB_KEY).read_bytes())


def test_the_stacks_world_readable_key_is_made_private(client: Client, stack_material: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    root = stack_material
    monkeypatch.setenv("SSL_DIR", str(root))
    assert _mode(root / KEY) == 0o644 and _mode(root / WEB_KEY) == 0o644  # as the stack left it
    before = _snapshot(root)
    reply = client.invoke("generate_ssl_materials")
    assert reply["regenerated"] is False and reply["reason"] == "current"  # its material stays
    assert {r["path"]: (r["mode"], r["fixed"]) for r in reply["key_modes"]} == {
        str(root / KEY): ("0644", True), str(root / WEB_KEY): ("0644", True)}
    assert _mode(root / KEY) == _mode(root / WEB_KEY) == 0o600
    assert all((root / name).read_bytes() == before[name][0] for name in before)
    again = client.custom_resource("Create", "Custom::SslMaterials", {})
    assert again["Status"] == "SUCCESS" and again["Data"]["KeyPermissions"] == "ok"


# -- as a non-root uid ----------------------------------------------------------------------------
def test_root_owned_directories_fail_the_custom_resource_with_a_clear_reason(
        stack_material: Path) -> None:
    root = stack_material
    before = _snapshot(root)
    answer = _child(root, "custom_resource", {"CommonName": "localhost"})
    assert answer["Status"] == "FAILED"
    reason = answer["Reason"]
    assert reason.startswith(f"permission denied on {root}: needs write and search (-wx)")
    assert f"the function runs as uid {UID} gid {GID}" in reason
    assert "owner uid 0 gid 0, mode 0755" in reason
    assert "internal error" not in reason.lower()
    assert _snapshot(root) == before  # nothing changed, nothing half-written
    assert sorted(p.name for p in root.iterdir()) == ["certs", MARKER, "private"]


def test_the_access_point_identity_is_named(stack_material: Path) -> None:
    answer = _child(stack_material, "invoke", env={"SSL_ACCESS_POINT_UID": "1000",
                                                   "SSL_ACCESS_POINT_GID": "1000"})
    assert answer["error"] == "file_access_denied"
    assert "the EFS access point makes it uid 1000 gid 1000" in answer["message"]


def test_a_key_the_function_does_not_own_is_reported_not_changed(stack_material: Path) -> None:
    """SSL_DIR writable (the lock and marker work), private/ and the key still root's."""
    root = stack_material
    _chown(root)
    answer = _child(root, "invoke")["ok"]
    assert answer["regenerated"] is False and answer["reason"] == "current"
    reports = {r["path"]: r for r in answer["key_modes"]}
    assert set(reports) == {str(root / KEY), str(root / WEB_KEY)}
    for report in reports.values():
        assert report["fixed"] is False and report["mode"] == "0644" and report["owner_uid"] == 0
        assert "readable by others" in report["problem"]
        assert f"uid {UID}" in report["problem"]
    assert _mode(root / KEY) == 0o644  # reported, not touched


def test_renewal_into_a_root_owned_private_directory_names_it(mount: Path) -> None:
    _stack_task(mount, days=3)  # inside the 7-day renewal window
    _chown(mount)
    answer = _child(mount, "custom_resource", {})
    assert answer["Status"] == "FAILED"
    private, certs_dir = mount / "private", mount / "certs"
    assert answer["Reason"] == (
        f"permission denied on {private}, {certs_dir}: needs write and search (-wx); "
        f"the function runs as uid {UID} gid {GID}; found {private}: owner uid 0 gid 0, mode 0755; "
        f"{certs_dir}: owner uid 0 gid 0, mode 0755")


def test_an_unreadable_key_is_not_taken_for_a_missing_one(stack_material: Path) -> None:
    root = stack_material
    _chown(root, root / "private", root / "certs")
    (root / KEY).chmod(0o600)  # root's, 0600: uid 1000 cannot read it
    before = (root / KEY).read_bytes()
    answer = _child(root, "invoke")
    assert answer["error"] == "file_access_denied"
    assert answer["message"].startswith(f"permission denied on {root / KEY}: needs read")
    assert (root / KEY).read_bytes() == before  # a working key is never replaced blindly


def test_material_the_function_owns_is_fixed_as_non_root(stack_material: Path) -> None:
    root = stack_material
    _chown(root, root / "private", root / "certs", *(root / n for n in (KEY, CERT, WEB_KEY,
                                                                        WEB_CERT, MARKER)))
    answer = _child(root, "invoke")["ok"]
    assert [r["fixed"] for r in answer["key_modes"]] == [True, True]
    assert _mode(root / KEY) == _mode(root / WEB_KEY) == 0o600
    renewed = _child(root, "invoke", {"force": True})["ok"]
    assert renewed["regenerated"] is True
    assert (root / KEY).stat().st_uid == UID and _mode(root / KEY) == 0o600
