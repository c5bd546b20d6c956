"""Self-signed TLS material as pure functions: PEM bytes in, facts out; no file system, no AWS.

``cryptography`` is imported inside each function: importing this module must stay free for the
routes that never touch certificates. Generation needs only its key primitives (the certificate
is encoded by :mod:`opsfn.routes.tls.der`); parsing uses ``cryptography.x509``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from opsfn.routes.tls import der
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
    """A PEM private key (PKCS#8, unencrypted), its self-signed certificate and what it says."""

    key_pem: bytes
    cert_pem: bytes
    info: CertInfo


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


def _subject(spec: CertSpec) -> list[tuple[str, str]]:
    """The subject's attributes in the order certificates conventionally list them, CN last."""
    optional = ((der.COUNTRY, spec.country), (der.STATE, spec.state), (der.LOCALITY, spec.locality),
                (der.ORGANIZATION, spec.organization),
                (der.ORGANIZATIONAL_UNIT, spec.organizational_unit))
    return [(kind, value) for kind, value in optional if value] + [(der.COMMON_NAME, spec.common_name)]


def to_be_signed(spec: CertSpec, spki: bytes, serial: int, not_before: dt.datetime,
                 not_after: dt.datetime, *, rsa: bool) -> bytes:
    """The TBSCertificate of a self-signed end-entity server certificate (pure).

    CA:FALSE and keyUsage critical, serverAuth, the key identifier of RFC 5280 4.2.1.2 (1) and
    the names as subjectAltName.
    """
    subject = der.name(_subject(spec))
    usage = [der.DIGITAL_SIGNATURE, der.KEY_ENCIPHERMENT] if rsa else [der.DIGITAL_SIGNATURE]
    key_id = hashlib.sha1(der.subject_public_key(spki), usedforsecurity=False).digest()
    extensions = [
        der.extension(der.BASIC_CONSTRAINTS, der.sequence(), critical=True),
        der.extension(der.KEY_USAGE, der.named_bits(usage), critical=True),
        der.extension(der.EXTENDED_KEY_USAGE, der.sequence(der.oid(der.SERVER_AUTH)), critical=False),
        der.extension(der.SUBJECT_KEY_IDENTIFIER, der.tlv(der.OCTET_STRING, key_id), critical=False),
    ]
    if spec.subject_alt_names:
        extensions.append(der.extension(
            der.SUBJECT_ALT_NAME, der.general_names(spec.subject_alt_names), critical=False))
    return der.sequence(
        der.tlv(der.VERSION, der.integer(2)),  # v3
        der.integer(serial), der.signature_algorithm(rsa), subject,
        der.sequence(der.validity_time(not_before), der.validity_time(not_after)),
        subject, spki, der.tlv(der.EXTENSIONS, der.sequence(*extensions)))


def random_serial() -> int:
    """A positive 159-bit serial (RFC 5280 allows 20 octets; CAs use at least 64 random bits)."""
    return int.from_bytes(os.urandom(20), "big") >> 1


def generate(spec: CertSpec, now: dt.datetime | None = None) -> Materials:
    """A new key pair and a self-signed server certificate for ``spec``.

    The certificate is an end-entity certificate (CA:FALSE, serverAuth) that a client can pin as
    its only trust anchor; notBefore is backdated five minutes to absorb clock skew. It is
    encoded by :mod:`opsfn.routes.tls.der` and signed with the new key (SHA-256).
    """
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

    now = der.as_utc(now or dt.datetime.now(dt.UTC)).replace(microsecond=0)  # DER: whole seconds
    not_before, not_after = now - dt.timedelta(minutes=5), now + dt.timedelta(days=spec.validity_days)
    key = _new_key(spec.key_type)
    spki = key.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)
    is_rsa = isinstance(key, rsa.RSAPrivateKey)
    tbs = to_be_signed(spec, spki, random_serial(), not_before, not_after, rsa=is_rsa)
    if isinstance(key, rsa.RSAPrivateKey):
        signature = key.sign(tbs, padding.PKCS1v15(), hashes.SHA256())
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        signature = key.sign(tbs, ec.ECDSA(hashes.SHA256()))
    else:  # pragma: no cover - _new_key makes only these two
        raise TypeError(f"no signature for {type(key).__name__}")
    cert_der = der.certificate(tbs, signature, rsa=is_rsa)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    digest = hashlib.sha256(cert_der).hexdigest().upper()
    info = CertInfo(
        fingerprint_sha256=_colons(digest), not_before=not_before, not_after=not_after,
        common_name=spec.common_name,
        subject_alt_names=_names_as_described(spec.subject_alt_names),
        key_type=spec.key_type)
    return Materials(key_pem=key_pem, cert_pem=der.pem(cert_der), info=info)


def _names_as_described(names: tuple[str, ...]) -> tuple[str, ...]:
    """The names in the order :func:`describe` reads them back: DNS names, then IP addresses."""
    canonical = [_canonical(n) for n in names]
    return tuple([n for n in canonical if not _is_ip(n)] + [n for n in canonical if _is_ip(n)])


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _colons(hex_digest: str) -> str:
    return ":".join(hex_digest[i:i + 2] for i in range(0, len(hex_digest), 2))


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
        fingerprint_sha256=_colons(digest),
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
