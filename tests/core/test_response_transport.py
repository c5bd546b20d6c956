"""The custom-resource answer's PUT: plain http.client, certificate-checked over HTTPS, through a
proxy when the environment names one."""

from __future__ import annotations

import datetime as dt
import json
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from opsfn.events import custom_resource as transport
from opsfn.events.custom_resource import SendPolicy, send_response

POLICY = SendPolicy(attempts=2, timeout_s=2.0, backoff_s=0.01)


def _self_signed(directory: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[str, Path, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            received.append({"path": self.path, "body": json.loads(raw),
                             "content_type": self.headers.get("Content-Type")})
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    cert, key = _self_signed(tmp_path)
    server = HTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://localhost:{server.server_port}/answer?X-Amz-Signature=s", cert, received
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def _fresh_tls_context(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transport, "_TLS", [])
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)


def test_https_answer_to_a_trusted_server(tls_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    url, cert, received = tls_server
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the default context's trust store
    delivered, detail = send_response(url, b'{"Status": "SUCCESS"}', policy=POLICY,
                                      deadline=lambda: 10.0)
    assert (delivered, detail) == (True, "HTTP 200")
    assert received == [{"path": "/answer?X-Amz-Signature=s", "body": {"Status": "SUCCESS"},
                         "content_type": ""}]


def test_https_answer_to_an_untrusted_certificate_is_not_sent(tls_server: Any) -> None:
    url, _, received = tls_server
    delivered, detail = send_response(url, b"{}", policy=POLICY, deadline=lambda: 10.0)
    assert delivered is False and "SSLCertVerificationError" in detail
    assert received == []


def test_a_proxy_in_the_environment_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    class Accept(BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    with HTTPServer(("127.0.0.1", 0), Accept) as direct:
        threading.Thread(target=direct.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{direct.server_port}/r"
        assert send_response(url, b"{}", policy=POLICY, deadline=lambda: 5.0) == (True, "HTTP 200")
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")  # nothing listens there
        monkeypatch.setenv("NO_PROXY", "")
        monkeypatch.setenv("no_proxy", "")
        delivered, detail = send_response(url, b"{}", policy=POLICY, deadline=lambda: 5.0)
        direct.shutdown()
    assert delivered is False and "Connection" in detail  # it went to the (dead) proxy
