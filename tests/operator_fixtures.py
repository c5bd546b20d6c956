"""Fixtures shared by the incidents, database and etl tests: moto tables, audit rows, an alert
inbox, a real Redis, and the client an operator calls with. Each domain's conftest.py imports the
fixtures it uses and defines ``app``, its routes alone."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from opsfn.core.app import App
from opsfn.services import aws
from opsfn.testing import Client
from tests.tables import create_shared_tables

ACCOUNT = "123456789012"
REGION = "us-east-1"


@pytest.fixture
def client(app: App) -> Client:
    """The domain's app as an operator calls it: behind the IAM authorizer."""
    return Client(app, auth="iam")


@pytest.fixture
def tables(moto_aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """LOCK_TABLE, AUDIT_TABLE and IDEMPOTENCY_TABLE as the template defines them."""
    create_shared_tables(monkeypatch)


def audit_items(action: str | None = None) -> list[dict[str, Any]]:
    items = aws.client("dynamodb").scan(TableName="ops-audit")["Items"]
    rows = [{"action": i["action"]["S"], "target": i["target"]["S"],
             "incidentId": i.get("incidentId", {}).get("S"), "at": i["at"]["S"],
             "caller": i.get("caller", {}).get("S"),
             "result": json.loads(i["result"]["S"])} for i in items]
    return [r for r in rows if action is None or r["action"] == action]


@dataclass
class Inbox:
    """An SQS queue subscribed to the alert topic: what humans would receive."""

    topic_arn: str
    queue_url: str

    def messages(self) -> list[dict[str, Any]]:
        sqs = aws.client("sqs")
        out: list[dict[str, Any]] = []
        while True:
            reply = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10)
            batch = reply.get("Messages", [])
            if not batch:
                return out
            for message in batch:
                out.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])


@pytest.fixture
def inbox(moto_aws: None, monkeypatch: pytest.MonkeyPatch) -> Inbox:
    return subscribe_inbox(monkeypatch)


def subscribe_inbox(monkeypatch: pytest.MonkeyPatch) -> Inbox:
    """The alert topic (ALERT_TOPIC_ARN) with a queue subscribed, in the current moto."""
    sns = aws.client("sns")
    sqs = aws.client("sqs")
    topic = sns.create_topic(Name="ops-alerts")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="ops-alerts-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    monkeypatch.setenv("ALERT_TOPIC_ARN", topic)
    return Inbox(topic, queue_url)


# -- a real redis-server with TLS and a password ----------------------------------------------------
REDIS_PASSWORD = "s3cr3t-redis-pass"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _write_certs(folder: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1 / localhost."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "opsfn test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False,
                                       encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .sign(ca_key, hashes.SHA256()))
    ca_file, cert_file, key_file = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return ca_file, cert_file, key_file


@dataclass
class RedisServer:
    host: str
    port: int
    ca_file: str

    def client(self, db: int = 0) -> Any:
        import redis

        return redis.Redis(host=self.host, port=self.port, password=REDIS_PASSWORD, db=db,
                           ssl=True, ssl_ca_certs=self.ca_file, ssl_cert_reqs="required")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """redis-server (Debian package) on a free loopback port: TLS only, password required."""
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not Path(binary).exists():
        pytest.skip("redis-server is not installed")
    folder = tmp_path_factory.mktemp("redis")
    ca_file, cert_file, key_file = _write_certs(folder)
    port = _free_port()
    process = subprocess.Popen(
        [binary, "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
         "--tls-cert-file", str(cert_file), "--tls-key-file", str(key_file),
         "--tls-ca-cert-file", str(ca_file), "--tls-auth-clients", "no",
         "--requirepass", REDIS_PASSWORD, "--save", "", "--appendonly", "no",
         "--dir", str(folder)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    server = RedisServer("127.0.0.1", port, str(ca_file))
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                server.client().ping()
                break
            except Exception:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not start with TLS") from None
                time.sleep(0.05)
        yield server
    finally:
        process.terminate()
        process.wait(timeout=10)
