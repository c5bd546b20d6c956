"""The DER encoding of a self-signed server certificate's to-be-signed part, as pure functions.

``cryptography.x509`` costs 40-50 ms to import (its name parser compiles regular expressions,
its extension classes are many); a custom resource that generates material on its first call
pays that in its cold start. Generation needs only the few structures below (RFC 5280): the
bytes are the ones ``x509.CertificateBuilder`` writes for the same inputs (the tests compare
them byte for byte), and the signature is made with the key itself. Parsing existing material
still goes through ``cryptography.x509`` (:func:`opsfn.routes.tls.certs.describe`).
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
from collections.abc import Sequence

INTEGER, BIT_STRING, OCTET_STRING, NULL, OBJECT_IDENTIFIER = 0x02, 0x03, 0x04, 0x05, 0x06
UTF8_STRING, PRINTABLE_STRING, UTC_TIME, GENERALIZED_TIME = 0x0C, 0x13, 0x17, 0x18
BOOLEAN, SEQUENCE, SET = 0x01, 0x30, 0x31
DNS_NAME, IP_ADDRESS = 0x82, 0x87  # GeneralName [2] and [7], implicit
VERSION, EXTENSIONS = 0xA0, 0xA3  # TBSCertificate [0] and [3], explicit

# Attribute types, with the string type cryptography gives each (RFC 5280 appendix A).
COUNTRY, STATE, LOCALITY = "2.5.4.6", "2.5.4.8", "2.5.4.7"
ORGANIZATION, ORGANIZATIONAL_UNIT, COMMON_NAME = "2.5.4.10", "2.5.4.11", "2.5.4.3"
_PRINTABLE_TYPES = {COUNTRY}
_PRINTABLE_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 '()+,-./:=?")

BASIC_CONSTRAINTS, KEY_USAGE, EXTENDED_KEY_USAGE = "2.5.29.19", "2.5.29.15", "2.5.29.37"
SUBJECT_KEY_IDENTIFIER, SUBJECT_ALT_NAME, SERVER_AUTH = "2.5.29.14", "2.5.29.17", "1.3.6.1.5.5.7.3.1"
ECDSA_WITH_SHA256, SHA256_WITH_RSA = "1.2.840.10045.4.3.2", "1.2.840.113549.1.1.11"
DIGITAL_SIGNATURE, KEY_ENCIPHERMENT = 0, 2  # KeyUsage bit numbers


def tlv(tag: int, content: bytes) -> bytes:
    """Tag, definite length, content."""
    size = len(content)
    if size < 0x80:
        return bytes((tag, size)) + content
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(length))) + length + content


def sequence(*items: bytes) -> bytes:
    return tlv(SEQUENCE, b"".join(items))


def integer(value: int) -> bytes:
    """A non-negative INTEGER (a leading zero byte keeps the sign bit clear)."""
    if value < 0:
        raise ValueError("only non-negative integers are encoded here")
    return tlv(INTEGER, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def oid(dotted: str) -> bytes:
    first, second, *rest = (int(part) for part in dotted.split("."))
    body = bytearray()
    for arc in (40 * first + second, *rest):
        chunk = [arc & 0x7F]  # base 128, high bit set on all but the last byte
        left = arc >> 7
        while left:
            chunk.append(0x80 | (left & 0x7F))
            left >>= 7
        body += bytes(reversed(chunk))
    return tlv(OBJECT_IDENTIFIER, bytes(body))


def bit_string(content: bytes, unused_bits: int = 0) -> bytes:
    return tlv(BIT_STRING, bytes((unused_bits,)) + content)


def named_bits(bits: Sequence[int]) -> bytes:
    """A named-bit BIT STRING (KeyUsage): trailing zero bits are not encoded (X.690 11.2.2)."""
    if not bits:
        return bit_string(b"")
    width = max(bits) + 1
    value = sum(1 << (width - 1 - bit) for bit in set(bits))
    unused = (-width) % 8
    size = (width + 7) // 8
    return bit_string((value << unused).to_bytes(size, "big"), unused)


def as_utc(moment: dt.datetime) -> dt.datetime:
    """Aware UTC; a naive time is taken as UTC, as cryptography reads one."""
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def validity_time(moment: dt.datetime) -> bytes:
    """UTCTime for 1950-2049, GeneralizedTime from 2050 (RFC 5280 4.1.2.5), whole seconds.

    A naive ``moment`` is UTC (as cryptography reads one).
    """
    utc = as_utc(moment)
    if utc.year < 1950:
        raise ValueError("certificate times before 1950 cannot be encoded (RFC 5280)")
    if utc.year < 2050:
        return tlv(UTC_TIME, utc.strftime("%y%m%d%H%M%SZ").encode())
    return tlv(GENERALIZED_TIME, utc.strftime("%Y%m%d%H%M%SZ").encode())


def name(attributes: Sequence[tuple[str, str]]) -> bytes:
    """A Name with one attribute per RDN, in the order given."""
    rdns = []
    for attribute_type, value in attributes:
        if attribute_type in _PRINTABLE_TYPES:
            if not set(value) <= _PRINTABLE_CHARS:
                raise ValueError(f"{attribute_type} must be a PrintableString")
            if attribute_type == COUNTRY and len(value) != 2:
                raise ValueError("a country name is two letters (ISO 3166)")
            encoded = tlv(PRINTABLE_STRING, value.encode("ascii"))
        else:
            encoded = tlv(UTF8_STRING, value.encode("utf-8"))
        rdns.append(tlv(SET, sequence(oid(attribute_type), encoded)))
    return sequence(*rdns)


def extension(extension_id: str, value: bytes, *, critical: bool) -> bytes:
    flag = tlv(BOOLEAN, b"\xff") if critical else b""  # DEFAULT FALSE is left out
    return sequence(oid(extension_id), flag, tlv(OCTET_STRING, value))


def general_names(names: Sequence[str]) -> bytes:
    """SubjectAltName: a dNSName for each name, an iPAddress for each IP literal."""
    entries = []
    for entry in names:
        try:
            entries.append(tlv(IP_ADDRESS, ipaddress.ip_address(entry).packed))
        except ValueError:
            entries.append(tlv(DNS_NAME, entry.encode("ascii")))  # A-labels only
    return sequence(*entries)


def signature_algorithm(rsa: bool) -> bytes:
    """sha256WithRSAEncryption (NULL parameters) or ecdsa-with-SHA256 (none)."""
    return sequence(oid(SHA256_WITH_RSA), tlv(NULL, b"")) if rsa else sequence(oid(ECDSA_WITH_SHA256))


def subject_public_key(spki: bytes) -> bytes:
    """The subjectPublicKey bits of a DER SubjectPublicKeyInfo (what the key identifier hashes)."""
    def read(data: bytes, at: int) -> tuple[int, int, int]:  # tag, start of content, end
        tag, size = data[at], data[at + 1]
        start = at + 2
        if size & 0x80:
            count = size & 0x7F
            size = int.from_bytes(data[start:start + count], "big")
            start += count
        return tag, start, start + size

    _, body, _ = read(spki, 0)
    _, _, after_algorithm = read(spki, body)
    tag, start, end = read(spki, after_algorithm)
    if tag != BIT_STRING or spki[start] != 0:
        raise ValueError("not a SubjectPublicKeyInfo")
    return spki[start + 1:end]


def certificate(tbs: bytes, signature: bytes, *, rsa: bool) -> bytes:
    return sequence(tbs, signature_algorithm(rsa), bit_string(signature))


def pem(der: bytes, label: str = "CERTIFICATE") -> bytes:
    text = base64.b64encode(der).decode("ascii")
    lines = [text[i:i + 64] for i in range(0, len(text), 64)]
    return "\n".join([f"-----BEGIN {label}-----", *lines, f"-----END {label}-----", ""]).encode()
