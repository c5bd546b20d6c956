"""The custom-resource answer's PUT: HTTP/1.1 on a socket, certificate-checked over HTTPS, through a
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


def _one_reply_server(reply: bytes) -> tuple[str, list[bytes], threading.Thread]:
    """A socket that reads one request and writes ``reply`` (whatever it is) back."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    seen: list[bytes] = []

    def serve() -> None:
        connection, _ = listener.accept()
        with connection, listener:
            data = b""
            while b"\r\n\r\n" not in data:
                data += connection.recv(4096)
            head, _, body = data.partition(b"\r\n\r\n")
            length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length")))
            while len(body) < length:
                body += connection.recv(4096)
            seen.append(head + b"\r\n\r\n" + body)
            connection.sendall(reply)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return f"http://127.0.0.1:{listener.getsockname()[1]}", seen, thread


def test_the_request_on_the_wire_and_a_refusal_that_will_not_heal() -> None:
    base, seen, thread = _one_reply_server(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
    once = SendPolicy(attempts=3, timeout_s=2.0, backoff_s=0.01)
    delivered, detail = send_response(f"{base}/bucket/key?X-Amz-Signature=abc", b'{"a": 1}',
                                      policy=once, deadline=lambda: 10.0)
    thread.join(5)
    assert (delivered, detail) == (False, "HTTP 403")  # one attempt: an expired URL stays expired
    (request,) = seen
    head, _, body = request.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"PUT /bucket/key?X-Amz-Signature=abc HTTP/1.1"
    assert set(lines[1:]) == {f"Host: {base.removeprefix('http://')}".encode(), b"Content-Type: ",
                              b"Content-Length: 8", b"Connection: close"}
    assert body == b'{"a": 1}'


def test_a_reply_that_is_not_http_is_a_failed_attempt() -> None:
    base, _, thread = _one_reply_server(b"SSH-2.0-OpenSSH_9.6\r\n")
    single = SendPolicy(attempts=1, timeout_s=2.0, backoff_s=0.01)
    assert send_response(f"{base}/r", b"{}", policy=single, deadline=lambda: 10.0) == (
        False, "gave up after 1 attempts: ConnectionError")
    thread.join(5)


def test_a_url_that_would_inject_headers_is_never_sent() -> None:
    single = SendPolicy(attempts=1, timeout_s=1.0, backoff_s=0.01)
    for url in ("http://127.0.0.1:9/a b", "http://127.0.0.1:9/a\r\nX-Evil: 1", "http://127.0.0.1:9/é"):
        assert send_response(url, b"{}", policy=single, deadline=lambda: 5.0) == (
            False, "gave up after 1 attempts: ValueError"), url


@pytest.mark.parametrize(("url", "host_header", "address"), [
    ("http://bucket.example:80/k?s=1", b"Host: bucket.example", ("bucket.example", 80)),
    ("http://bucket.example/k", b"Host: bucket.example", ("bucket.example", 80)),
    ("http://[::1]:8080/k", b"Host: [::1]:8080", ("::1", 8080)),
    ("http://user:pw@bucket.example:8443/k", b"Host: bucket.example:8443", ("bucket.example", 8443)),
])
def test_the_host_header_is_what_the_signature_covers(
        monkeypatch: pytest.MonkeyPatch, url: str, host_header: bytes,
        address: tuple[str, int]) -> None:
    """As http.client writes it: no user info, IPv6 in brackets, no default port."""
    import socket

    connected: list[tuple[str, int]] = []
    sent: list[bytes] = []

    def connect(where: tuple[str, int], timeout: float) -> socket.socket:
        connected.append(where)
        ours, theirs = socket.socketpair()

        def answer() -> None:
            with theirs:
                sent.append(theirs.recv(65536))
                theirs.sendall(b"HTTP/1.1 200 OK\r\n\r\n")

        threading.Thread(target=answer, daemon=True).start()
        return ours

    monkeypatch.setattr(socket, "create_connection", connect)
    single = SendPolicy(attempts=1, timeout_s=2.0, backoff_s=0.01)
    assert send_response(url, b"{}", policy=single, deadline=lambda: 5.0) == (True, "HTTP 200")
    assert connected == [address]
    assert host_header in sent[0].split(b"\r\n")


def test_a_server_that_never_finishes_its_status_line_is_given_up_on() -> None:
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def drip() -> None:
        connection, _ = listener.accept()
        with connection, listener:
            connection.recv(65536)
            for _ in range(40):  # one byte every 50 ms: each recv is quick, the whole is not
                try:
                    connection.sendall(b"H")
                except OSError:
                    return
                threading.Event().wait(0.05)

    threading.Thread(target=drip, daemon=True).start()
    single = SendPolicy(attempts=1, timeout_s=0.5, backoff_s=0.01)
    started = dt.datetime.now()
    delivered, detail = send_response(f"http://127.0.0.1:{listener.getsockname()[1]}/r", b"{}",
                                      policy=single, deadline=lambda: 5.0)
    assert (delivered, detail) == (False, "gave up after 1 attempts: TimeoutError")
    assert (dt.datetime.now() - started).total_seconds() < 1.5
