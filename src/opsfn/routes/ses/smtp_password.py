"""The SES SMTP password of an IAM secret access key: a pure function, no AWS call.

SES documents the derivation as a SigV4-style HMAC-SHA256 chain over fixed inputs (date
``11111111``, the region, ``ses``, ``aws4_request``, ``SendRawEmail``), prefixed with the version
byte 0x04 and base64-encoded. The password is region-specific, so a region without an SES SMTP
endpoint is refused rather than producing a password nobody can use.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

# Regions of the documented credential script (AWS SES developer guide, "Obtaining Amazon SES SMTP
# credentials"); more can be allowed with SES_SMTP_EXTRA_REGIONS as AWS adds endpoints.
SMTP_REGIONS: frozenset[str] = frozenset({
    "us-east-2", "us-east-1", "us-west-2", "ap-south-1", "ap-northeast-2", "ap-southeast-1",
    "ap-southeast-2", "ap-northeast-1", "ca-central-1", "eu-central-1", "eu-west-1", "eu-west-2",
    "eu-south-1", "eu-north-1", "sa-east-1", "us-gov-west-1", "us-gov-east-1",
})

_DATE = "11111111"
_SERVICE = "ses"
_TERMINAL = "aws4_request"
_MESSAGE = "SendRawEmail"
_VERSION = b"\x04"


class UnsupportedRegion(ValueError):
    """The region has no SES SMTP endpoint (or is not known to have one)."""


def smtp_regions(extra: str = "") -> frozenset[str]:
    """The documented regions plus a comma-separated list of extra ones."""
    return SMTP_REGIONS | {part.strip() for part in extra.split(",") if part.strip()}


def smtp_host(region: str) -> str:
    """The SMTP endpoint host of ``region``."""
    return f"email-smtp.{region}.amazonaws.com"


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()


def smtp_password(secret_access_key: str, region: str, *, extra_regions: str = "") -> str:
    """The SMTP password for ``secret_access_key`` in ``region``; UnsupportedRegion otherwise."""
    if region not in smtp_regions(extra_regions):
        raise UnsupportedRegion(f"region {region[:32]!r} has no SES SMTP endpoint")
    if not secret_access_key:
        raise ValueError("the secret access key is empty")
    signature = ("AWS4" + secret_access_key).encode("utf-8")
    for part in (_DATE, region, _SERVICE, _TERMINAL, _MESSAGE):
        signature = _hmac(signature, part)
    return base64.b64encode(_VERSION + signature).decode("ascii")
