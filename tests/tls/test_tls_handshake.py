"""A real TLS handshake with generated material: a server on 127.0.0.1, a verifying client."""

from __future__ import annotations

import socket
import ssl
import threading
from pathlib import Path

import pytest

from opsfn.routes.tls import certs


def _serve_once(cert: Path, key: Path) -> tuple[int, threading.Thread, list[bytes]]:
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    received: list[bytes] = []

    def run() -> None:
        with listener:
            listener.settimeout(10)
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conn.settimeout(10)
            try:
                with server_ctx.wrap_socket(conn, server_side=True) as tls:
                    received.append(tls.recv(64))
                    tls.sendall(b"pong")
            except (ssl.SSLError, OSError):
                return

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return port, thread, received


def _client_context(trust: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(trust))
    ctx.verify_flags |= ssl.VERIFY_X509_STRICT  # what Python 3.13 turns on by default
    assert ctx.check_hostname and ctx.verify_mode == ssl.CERT_REQUIRED
    return ctx


def _write(tmp: Path, made: certs.Materials, name: str) -> tuple[Path, Path]:
    cert, key = tmp / f"{name}.cert.pem", tmp / f"{name}.key.pem"
    cert.write_bytes(made.cert_pem)
    key.write_bytes(made.key_pem)
    return cert, key


@pytest.mark.parametrize("key_type", ["rsa-2048", "ecdsa-p256"])
def test_handshake_verifies_against_the_certificate(tmp_path: Path, key_type: str) -> None:
    made = certs.generate(certs.CertSpec(key_type=key_type))  # type: ignore[arg-type]
    cert, key = _write(tmp_path, made, key_type)
    port, thread, received = _serve_once(cert, key)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            _client_context(cert).wrap_socket(raw, server_hostname="localhost") as tls:
        tls.sendall(b"ping")
        assert tls.recv(64) == b"pong"
        peer = tls.getpeercert()
        assert ("DNS", "localhost") in peer["subjectAltName"]
    thread.join(10)
    assert received == [b"ping"]


def test_handshake_fails_for_another_certificate_or_name(tmp_path: Path) -> None:
    served = certs.generate(certs.CertSpec())
    other = certs.generate(certs.CertSpec())
    cert, key = _write(tmp_path, served, "served")
    other_cert, _ = _write(tmp_path, other, "other")

    port, thread, _ = _serve_once(cert, key)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            pytest.raises(ssl.SSLCertVerificationError):
        _client_context(other_cert).wrap_socket(raw, server_hostname="localhost")
    thread.join(10)

    port, thread, _ = _serve_once(cert, key)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            pytest.raises(ssl.SSLCertVerificationError, match=r"(?i)hostname"):
        _client_context(cert).wrap_socket(raw, server_hostname="not-localhost")
    thread.join(10)


@pytest.mark.parametrize("key_type", ["rsa-2048", "ecdsa-p256"])
def test_files_written_by_the_action_serve_tls(ssl_dir: Path, key_type: str) -> None:
    """The web container's view: serve the webserver.* copies, trust the selfsigned cert."""
    from opsfn.core.app import App
    from opsfn.routes import ses, tls
    from opsfn.testing import Client

    reply = Client(App([tls.router, ses.router])).invoke("generate_ssl_materials", key_type=key_type)
    paths = {name: Path(path) for name, path in reply["paths"].items()}
    port, thread, received = _serve_once(paths["webserver_cert"], paths["webserver_key"])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            _client_context(paths["cert"]).wrap_socket(raw, server_hostname="localhost") as tls:
        tls.sendall(b"hello")
        assert tls.recv(64) == b"pong"
        der = tls.getpeercert(binary_form=True)
    thread.join(10)
    assert received == [b"hello"]
    import hashlib

    digest = hashlib.sha256(der).hexdigest().upper()
    assert reply["fingerprint_sha256"].replace(":", "") == digest
