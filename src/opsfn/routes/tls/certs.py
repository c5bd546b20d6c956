"""Self-signed TLS material as pure functions: PEM bytes in, facts out; no file system, no AWS.

``cryptography`` is imported inside each function: importing this module must stay free for the
routes that never touch certificates.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from opsfn.routes.tls.settings import KeyType

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import (
        CertificateIssuerPrivateKeyTypes,
        PublicKeyTypes,
    )

State = Literal["current", "missing", "unreadable", "key_mismatch", "expiring"]


@dataclass(frozen=True, slots=True)
class CertSpec:
    """What to put into a new certificate."""

    common_name: str = "localhost"
    subject_alt_names: tuple[str, ...] = ("localhost",)
    key_type: KeyType = "rsa-2048"
    validity_days: int = 365
    organization: str | None = None
    organizational_unit: str | None = None
    country: str | None = None
    state: str | None = None
    locality: str | None = None


@dataclass(frozen=True, slots=True)
class Materials:
    """A PEM private key (PKCS#8, unencrypted) and its self-signed certificate."""

    key_pem: bytes
    cert_pem: bytes


@dataclass(frozen=True, slots=True)
class CertInfo:
    """What a reply says about a certificate: never the key."""

    fingerprint_sha256: str
    not_before: dt.datetime
    not_after: dt.datetime
    common_name: str
    subject_alt_names: tuple[str, ...]
    key_type: str


@dataclass(frozen=True, slots=True)
class Assessment:
    """Whether the material on disk may stay; ``info`` is set whenever the certificate parsed."""

    state: State
    info: CertInfo | None = None

    @property
    def needs_renewal(self) -> bool:
        """Anything but ``current`` means: generate a new pair."""
        return self.state != "current"


def _new_key(key_type: KeyType) -> CertificateIssuerPrivateKeyTypes:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    if key_type == "ecdsa-p256":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _san_entries(names: tuple[str, ...]) -> list[object]:
    from cryptography import x509

    entries: list[object] = []
    for name in names:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.append(x509.DNSName(name))
    return entries


def generate(spec: CertSpec, now: dt.datetime | None = None) -> Materials:
    """A new key pair and a self-signed server certificate for ``spec``.

    The certificate is an end-entity certificate (CA:FALSE, serverAuth) that a client can pin as
    its only trust anchor; notBefore is backdated five minutes to absorb clock skew.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = now or dt.datetime.now(dt.UTC)
    key = _new_key(spec.key_type)
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, spec.common_name)]
    optional = (
        (NameOID.COUNTRY_NAME, spec.country), (NameOID.STATE_OR_PROVINCE_NAME, spec.state),
        (NameOID.LOCALITY_NAME, spec.locality), (NameOID.ORGANIZATION_NAME, spec.organization),
        (NameOID.ORGANIZATIONAL_UNIT_NAME, spec.organizational_unit),
    )
    attributes = [x509.NameAttribute(oid, value) for oid, value in optional if value] + attributes
    name = x509.Name(attributes)
    public = key.public_key()
    is_rsa = isinstance(key, rsa.RSAPrivateKey)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=spec.validity_days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, key_encipherment=is_rsa, content_commitment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
            encipher_only=False, decipher_only=False,
        ), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
    )
    sans = spec.subject_alt_names
    if sans:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(_san_entries(sans)),  # type: ignore[arg-type]
            critical=False,
        )
    cert = builder.sign(key, hashes.SHA256())
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return Materials(key_pem=key_pem, cert_pem=cert.public_bytes(serialization.Encoding.PEM))


def _public_der(key: PublicKeyTypes) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.public_bytes(serialization.Encoding.DER,
                            serialization.PublicFormat.SubjectPublicKeyInfo)


def _key_type_name(key: PublicKeyTypes) -> str:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    if isinstance(key, rsa.RSAPublicKey):
        return f"rsa-{key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return {"secp256r1": "ecdsa-p256"}.get(key.curve.name, f"ecdsa-{key.curve.name}")
    return type(key).__name__


def describe(cert_pem: bytes) -> CertInfo:
    """Fingerprint, validity, names and key type of a PEM certificate (ValueError if unparsable)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.x509.oid import NameOID

    cert = x509.load_pem_x509_certificate(cert_pem)
    digest = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest().upper()
    cn_attrs = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    common_name = str(cn_attrs[0].value) if cn_attrs else ""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = tuple([*san.get_values_for_type(x509.DNSName),
                       *(str(ip) for ip in san.get_values_for_type(x509.IPAddress))])
    except x509.ExtensionNotFound:
        names = ()
    return CertInfo(
        fingerprint_sha256=":".join(digest[i:i + 2] for i in range(0, len(digest), 2)),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        common_name=common_name,
        subject_alt_names=names,
        key_type=_key_type_name(cert.public_key()),
    )


def key_matches(cert_pem: bytes, key_pem: bytes) -> bool:
    """True when the private key is the one the certificate was issued for."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    cert = x509.load_pem_x509_certificate(cert_pem)
    key = serialization.load_pem_private_key(key_pem, password=None)
    return _public_der(cert.public_key()) == _public_der(key.public_key())


def assess(cert_pem: bytes | None, key_pem: bytes | None, *, renew_before: dt.timedelta,
           now: dt.datetime | None = None) -> Assessment:
    """Decide whether existing material may stay: present, parsable, matching and not expiring."""
    if cert_pem is None or key_pem is None:
        return Assessment("missing")
    from cryptography.exceptions import UnsupportedAlgorithm

    now = now or dt.datetime.now(dt.UTC)
    try:
        info = describe(cert_pem)
        matches = key_matches(cert_pem, key_pem)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return Assessment("unreadable")
    if not matches:
        return Assessment("key_mismatch", info)
    if info.not_after - now <= renew_before or info.not_before > now:
        return Assessment("expiring", info)
    return Assessment("current", info)


def matches_spec(info: CertInfo, spec: CertSpec) -> bool:
    """Whether a certificate already carries the names and key type ``spec`` asks for."""
    return (info.common_name == spec.common_name
            and sorted(info.subject_alt_names) == sorted(_canonical(n) for n in spec.subject_alt_names)
            and info.key_type == spec.key_type)


def _canonical(name: str) -> str:
    try:
        return str(ipaddress.ip_address(name))
    except ValueError:
        return name
