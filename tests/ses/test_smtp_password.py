"""The SMTP password derivation against two independent implementations, and the CLI."""

from __future__ import annotations

import base64
import hashlib
import io
import shutil
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opsfn.routes.ses.smtp_password import (
    SMTP_REGIONS,
    UnsupportedRegion,
    smtp_host,
    smtp_password,
)
from opsfn.tooling.cli import main

EXAMPLE_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"  # AWS's documentation example key


def _hand_hmac_sha256(key: bytes, message: bytes) -> bytes:
    """RFC 2104 written out with hashlib only (no hmac module), as a second implementation."""
    block = 64
    if len(key) > block:
        key = hashlib.sha256(key).digest()
    key = key.ljust(block, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key) + message).digest()
    return hashlib.sha256(bytes(b ^ 0x5C for b in key) + inner).digest()


def _reference(secret: str, region: str) -> str:
    key = b"AWS4" + secret.encode()
    steps = [b"11111111", region.encode(), b"ses", b"aws4_request", b"SendRawEmail"]
    while steps:
        key = _hand_hmac_sha256(key, steps.pop(0))
    return base64.b64encode(bytes([4]) + key).decode()


def _openssl(secret: str, region: str) -> str:
    """The same chain computed by the openssl command line tool."""
    key_hex = (b"AWS4" + secret.encode()).hex()
    for part in ("11111111", region, "ses", "aws4_request", "SendRawEmail"):
        out = subprocess.run(
            ["openssl", "dgst", "-sha256", "-mac", "HMAC", "-macopt", f"hexkey:{key_hex}", "-hex"],
            input=part.encode(), capture_output=True, check=True,
        ).stdout.decode()
        key_hex = out.strip().split("= ")[-1]
    return base64.b64encode(b"\x04" + bytes.fromhex(key_hex)).decode()


@pytest.mark.parametrize("region", sorted(SMTP_REGIONS))
def test_matches_hand_written_hmac(region: str) -> None:
    assert smtp_password(EXAMPLE_KEY, region) == _reference(EXAMPLE_KEY, region)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI not installed")
@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1"])
def test_matches_openssl(region: str) -> None:
    assert smtp_password(EXAMPLE_KEY, region) == _openssl(EXAMPLE_KEY, region)


@settings(max_examples=50, deadline=None)
@given(secret=st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1,
                      max_size=80), region=st.sampled_from(sorted(SMTP_REGIONS)))
def test_matches_reference_for_any_key(secret: str, region: str) -> None:
    password = smtp_password(secret, region)
    assert password == _reference(secret, region)
    raw = base64.b64decode(password)
    assert raw[0] == 4 and len(raw) == 33


def test_region_matters_and_unknown_regions_are_refused() -> None:
    assert smtp_password(EXAMPLE_KEY, "us-east-1") != smtp_password(EXAMPLE_KEY, "us-west-2")
    with pytest.raises(UnsupportedRegion):
        smtp_password(EXAMPLE_KEY, "af-south-1")
    with pytest.raises(UnsupportedRegion):
        smtp_password(EXAMPLE_KEY, "mars-north-1")
    assert smtp_password(EXAMPLE_KEY, "af-south-1", extra_regions="af-south-1, x") == \
        _reference(EXAMPLE_KEY, "af-south-1")
    with pytest.raises(ValueError, match="empty"):
        smtp_password("", "us-east-1")
    assert smtp_host("eu-west-1") == "email-smtp.eu-west-1.amazonaws.com"


def test_cli_prints_the_password(monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(EXAMPLE_KEY + "\n"))
    assert main(["smtp-password", "--region", "eu-central-1"]) == 0
    out = capsys.readouterr()
    assert out.out == _reference(EXAMPLE_KEY, "eu-central-1") + "\n"
    assert EXAMPLE_KEY not in out.out + out.err


def test_cli_refuses_regions_and_empty_input(monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(EXAMPLE_KEY))
    assert main(["smtp-password", "--region", "il-central-1"]) == 2
    out = capsys.readouterr()
    assert out.out == "" and "no SES SMTP endpoint" in out.err
    monkeypatch.setattr("sys.stdin", io.StringIO("  \n"))
    assert main(["smtp-password", "--region", "us-east-1"]) == 2
    assert "no secret access key" in capsys.readouterr().err
    monkeypatch.setenv("SES_SMTP_EXTRA_REGIONS", "il-central-1")
    monkeypatch.setattr("sys.stdin", io.StringIO(EXAMPLE_KEY))
    assert main(["smtp-password", "--region", "il-central-1"]) == 0
