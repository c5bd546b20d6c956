"""The certificate opsfn encodes is, byte for byte, the one cryptography's builder makes.

Same key, serial, times and names on both sides: the to-be-signed bytes must be equal (and, for
RSA, whose PKCS#1 v1.5 signatures are deterministic, the whole certificate), and the result
must parse, verify with its own key and be accepted by openssl.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from opsfn.routes.tls import certs, der

NOW = dt.datetime(2026, 6, 1, 12, 30, 15, tzinfo=dt.UTC)
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
OIDS = {der.COUNTRY: NameOID.COUNTRY_NAME, der.STATE: NameOID.STATE_OR_PROVINCE_NAME,
        der.LOCALITY: NameOID.LOCALITY_NAME, der.ORGANIZATION: NameOID.ORGANIZATION_NAME,
        der.ORGANIZATIONAL_UNIT: NameOID.ORGANIZATIONAL_UNIT_NAME,
        der.COMMON_NAME: NameOID.COMMON_NAME}


def _reference(spec: certs.CertSpec, key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
               serial: int, not_before: dt.datetime, not_after: dt.datetime) -> x509.Certificate:
    """What ``x509.CertificateBuilder`` makes of the same inputs."""
    is_rsa = isinstance(key, rsa.RSAPrivateKey)
    subject = x509.Name([x509.NameAttribute(OIDS[kind], value)
                         for kind, value in certs._subject(spec)])
    public = key.public_key()
    builder = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(public)
        .serial_number(serial).not_valid_before(not_before).not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, key_encipherment=is_rsa, content_commitment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False))
    if spec.subject_alt_names:
        entries: list[x509.GeneralName] = []
        for name in spec.subject_alt_names:
            try:
                entries.append(x509.IPAddress(ipaddress.ip_address(name)))
            except ValueError:
                entries.append(x509.DNSName(name))
        builder = builder.add_extension(x509.SubjectAlternativeName(entries), critical=False)
    return builder.sign(key, hashes.SHA256())


def _spki(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


SPECS = {
    "rsa, dns and ip names": (certs.CertSpec(subject_alt_names=("localhost", "127.0.0.1", "::1")),
                              RSA_KEY),
    "ecdsa, one name": (certs.CertSpec(common_name="web", subject_alt_names=("web.internal",),
                                       key_type="ecdsa-p256"), EC_KEY),
    "every subject attribute": (certs.CertSpec(
        common_name="openemr.example.org", subject_alt_names=("openemr.example.org",),
        organization="Clinic (North)", organizational_unit="Ops", country="US", state="Oregon",
        locality="Portland"), RSA_KEY),
    "no names": (certs.CertSpec(subject_alt_names=()), EC_KEY),
    "utf-8 organisation": (certs.CertSpec(organization="Clínica São José"), EC_KEY),
}


@pytest.mark.parametrize("case", list(SPECS))
@pytest.mark.parametrize("years", [1, 30])  # 30 years: notAfter in GeneralizedTime (>= 2050)
def test_the_same_bytes_as_cryptographys_builder(case: str, years: int) -> None:
    spec, key = SPECS[case]
    is_rsa = isinstance(key, rsa.RSAPrivateKey)
    not_before, not_after = NOW - dt.timedelta(minutes=5), NOW + dt.timedelta(days=365 * years)
    serial = certs.random_serial()
    reference = _reference(spec, key, serial, not_before, not_after)
    tbs = certs.to_be_signed(spec, _spki(key), serial, not_before, not_after, rsa=is_rsa)
    assert tbs == reference.tbs_certificate_bytes
    if isinstance(key, rsa.RSAPrivateKey):  # deterministic signature: the whole certificate
        signature = key.sign(tbs, padding.PKCS1v15(), hashes.SHA256())
        assert der.certificate(tbs, signature, rsa=True) == \
            reference.public_bytes(serialization.Encoding.DER)
        assert der.pem(der.certificate(tbs, signature, rsa=True)) == \
            reference.public_bytes(serialization.Encoding.PEM)


@pytest.mark.parametrize("key_type", ["rsa-2048", "ecdsa-p256"])
def test_generated_material_parses_verifies_and_says_what_describe_reads(key_type: str) -> None:
    spec = certs.CertSpec(subject_alt_names=("10.0.0.7", "localhost"), key_type=key_type)  # type: ignore[arg-type]
    materials = certs.generate(spec, now=NOW.replace(microsecond=123456))
    cert = x509.load_pem_x509_certificate(materials.cert_pem)
    public = cert.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        public.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(),
                      hashes.SHA256())
    else:
        assert isinstance(public, ec.EllipticCurvePublicKey)
        public.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(hashes.SHA256()))
    assert cert.signature_hash_algorithm is not None
    assert cert.signature_hash_algorithm.name == "sha256"
    assert certs.describe(materials.cert_pem) == materials.info
    assert certs.key_matches(materials.cert_pem, materials.key_pem)
    assert 0 < cert.serial_number < 2**159


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_openssl_accepts_it_as_its_own_trust_anchor(tmp_path: Path) -> None:
    materials = certs.generate(certs.CertSpec(subject_alt_names=("localhost",),
                                              key_type="ecdsa-p256"))
    path = tmp_path / "cert.pem"
    path.write_bytes(materials.cert_pem)
    checked = subprocess.run(
        ["openssl", "verify", "-CAfile", str(path), "-partial_chain", "-purpose", "sslserver",
         str(path)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.strip().endswith("OK")


def test_encoding_rules() -> None:
    assert der.tlv(0x04, b"x" * 200)[:3] == b"\x04\x81\xc8"  # long form length
    assert der.tlv(0x04, b"x" * 300)[:4] == b"\x04\x82\x01\x2c"
    assert der.integer(0) == b"\x02\x01\x00"
    assert der.integer(128) == b"\x02\x02\x00\x80"  # sign bit clear
    with pytest.raises(ValueError, match="non-negative"):
        der.integer(-1)
    assert der.oid("1.2.840.113549.1.1.11") == bytes.fromhex("06092a864886f70d01010b")
    assert der.named_bits([0]) == b"\x03\x02\x07\x80"
    assert der.named_bits([0, 2]) == b"\x03\x02\x05\xa0"
    assert der.named_bits([8]) == b"\x03\x03\x07\x00\x80"
    with pytest.raises(ValueError, match="PrintableString"):
        der.name([(der.COUNTRY, "Ü1")])
    with pytest.raises(ValueError, match="SubjectPublicKeyInfo"):
        der.subject_public_key(der.sequence(der.sequence(der.oid("1.2.3")), der.integer(5)))


def test_times_are_utc_whatever_the_caller_passes() -> None:
    naive = dt.datetime(2026, 6, 1, 12, 0, 0)  # naive on purpose: read as UTC
    aware = dt.datetime(2026, 6, 1, 14, 0, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert der.validity_time(naive) == der.validity_time(NOW.replace(hour=12, minute=0, second=0))
    assert der.validity_time(aware) == der.validity_time(naive)
    for now in (naive, aware):
        materials = certs.generate(certs.CertSpec(key_type="ecdsa-p256"), now=now)
        assert materials.info == certs.describe(materials.cert_pem)
        assert materials.info.not_after.utcoffset() == dt.timedelta(0)
    assert der.validity_time(dt.datetime(1950, 1, 1, tzinfo=dt.UTC))[0] == der.UTC_TIME
    with pytest.raises(ValueError, match="before 1950"):
        der.validity_time(dt.datetime(1949, 12, 31, tzinfo=dt.UTC))


def test_a_country_is_two_letters() -> None:
    assert der.name([(der.COUNTRY, "US")])
    with pytest.raises(ValueError, match="two letters"):
        der.name([(der.COUNTRY, "USA")])


def test_a_scoped_ipv6_address_is_not_a_subject_alt_name() -> None:
    from opsfn.routes.tls.routes import valid_san

    assert valid_san("fe80::1") and valid_san("10.0.0.7") and valid_san("*.example.org")
    assert not valid_san("fe80::1%eth0")
