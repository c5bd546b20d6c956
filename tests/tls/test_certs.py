"""The pure certificate functions: generation, inspection and the renewal decision."""

from __future__ import annotations

import datetime as dt

import pytest

from opsfn.routes.tls import certs

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
WEEK = dt.timedelta(days=7)


@pytest.fixture(scope="module")
def rsa() -> certs.Materials:
    return certs.generate(certs.CertSpec(subject_alt_names=("localhost", "127.0.0.1")), now=NOW)


@pytest.fixture(scope="module")
def ec() -> certs.Materials:
    return certs.generate(certs.CertSpec(common_name="web", subject_alt_names=("web.internal",),
                                         key_type="ecdsa-p256", validity_days=30), now=NOW)


def test_rsa_certificate_describes_itself(rsa: certs.Materials) -> None:
    info = certs.describe(rsa.cert_pem)
    assert info.common_name == "localhost"
    assert sorted(info.subject_alt_names) == ["127.0.0.1", "localhost"]
    assert info.key_type == "rsa-2048"
    assert info.not_after == NOW + dt.timedelta(days=365)
    assert info.not_before < NOW
    assert len(info.fingerprint_sha256.split(":")) == 32
    assert rsa.key_pem.startswith(b"-----BEGIN PRIVATE KEY-----")


def test_ecdsa_certificate(ec: certs.Materials) -> None:
    info = certs.describe(ec.cert_pem)
    assert (info.common_name, info.subject_alt_names, info.key_type) == (
        "web", ("web.internal",), "ecdsa-p256")
    assert info.not_after == NOW + dt.timedelta(days=30)


def test_key_match(rsa: certs.Materials, ec: certs.Materials) -> None:
    assert certs.key_matches(rsa.cert_pem, rsa.key_pem)
    assert not certs.key_matches(rsa.cert_pem, ec.key_pem)


def test_assess_states(rsa: certs.Materials, ec: certs.Materials) -> None:
    assert certs.assess(None, rsa.key_pem, renew_before=WEEK).state == "missing"
    assert certs.assess(rsa.cert_pem, None, renew_before=WEEK).state == "missing"
    assert certs.assess(b"garbage", rsa.key_pem, renew_before=WEEK).state == "unreadable"
    assert certs.assess(rsa.cert_pem, b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
                        renew_before=WEEK).state == "unreadable"
    assert certs.assess(rsa.cert_pem, ec.key_pem, renew_before=WEEK, now=NOW).state == "key_mismatch"
    current = certs.assess(rsa.cert_pem, rsa.key_pem, renew_before=WEEK, now=NOW)
    assert current.state == "current" and not current.needs_renewal
    late = NOW + dt.timedelta(days=359)  # 6 days left, inside the 7-day window
    assert certs.assess(rsa.cert_pem, rsa.key_pem, renew_before=WEEK, now=late).state == "expiring"
    just_outside = NOW + dt.timedelta(days=357)
    assert certs.assess(rsa.cert_pem, rsa.key_pem, renew_before=WEEK, now=just_outside).state == \
        "current"
    expired = NOW + dt.timedelta(days=400)
    assert certs.assess(rsa.cert_pem, rsa.key_pem, renew_before=dt.timedelta(0),
                        now=expired).needs_renewal


def test_matches_spec(rsa: certs.Materials) -> None:
    info = certs.describe(rsa.cert_pem)
    assert certs.matches_spec(info, certs.CertSpec(subject_alt_names=("127.0.0.1", "localhost")))
    assert not certs.matches_spec(info, certs.CertSpec(subject_alt_names=("localhost",)))
    assert not certs.matches_spec(info, certs.CertSpec(
        subject_alt_names=("127.0.0.1", "localhost"), key_type="ecdsa-p256"))
    assert not certs.matches_spec(info, certs.CertSpec(
        common_name="other", subject_alt_names=("127.0.0.1", "localhost")))


def test_subject_fields() -> None:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    made = certs.generate(certs.CertSpec(organization="Clinic", country="US", key_type="ecdsa-p256"))
    subject = x509.load_pem_x509_certificate(made.cert_pem).subject
    assert subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Clinic"
    assert subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value == "US"
