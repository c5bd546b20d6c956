"""Where and as whom an SDK-free call goes, or that the SDK must make it.

The calls of this package replace the SDK only where it would do nothing more: credentials in
the environment (Lambda's, or the running route's scoped session made from them), a region of
AWS's commercial partition or a plain custom endpoint, and nothing that asks for the SDK's own
handling (another credential source, proxies, FIPS or dual-stack endpoints, a shared config file
that names endpoints, a per-service endpoint variable).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

AWS_REGION = re.compile(r"^(us|eu|ap|sa|ca|me|af|il|mx)-[a-z]+-\d$")
_SDK_ONLY = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "AWS_PROFILE",
             "AWS_USE_FIPS_ENDPOINT", "AWS_USE_DUALSTACK_ENDPOINT",
             "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")


class UseSdk:
    """Marker: this call is one for the SDK."""


USE_SDK: Final = UseSdk()


@dataclass(frozen=True, slots=True)
class Credentials:
    """An access key pair and, for temporary credentials, the session token."""

    access_key: str
    secret_key: str
    token: str | None = None


@dataclass(frozen=True, slots=True)
class Target:
    """Where and as whom a lean call goes."""

    credentials: Credentials
    region: str
    endpoint: str | None  # a custom endpoint (moto, a local stack), else AWS's


def sdk_loaded() -> bool:
    """Whether botocore is imported: then there is little to save (and mocks patch it)."""
    return "botocore" in sys.modules


def _config_names_endpoint(environ: Mapping[str, str]) -> bool:
    """Whether the shared config file may send calls elsewhere (endpoints, addressing)."""
    path = Path(environ.get("AWS_CONFIG_FILE") or "~/.aws/config").expanduser()
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            text = handle.read(1 << 20)
    except OSError:
        return False
    return "endpoint_url" in text or "addressing_style" in text or "use_" in text


def plain_endpoint(endpoint: str) -> bool:
    """Whether a custom endpoint is a bare scheme and host, as the lean calls address it."""
    parts = urlsplit(endpoint)
    return parts.scheme in ("http", "https") and bool(parts.netloc) \
        and not parts.path.strip("/") and not parts.query


def target(service: str, environ: Mapping[str, str] | None = None, *, own: bool = False,
           valid_for: float = 0, cold_only: bool = True) -> Target | None:
    """The lean target for ``service``, or None when the SDK must make the call.

    Its credentials are the running route's scoped ones (:mod:`opsfn.services.scoped`), valid
    ``valid_for`` seconds more at least, unless ``own`` asks for the function's own.
    ``cold_only``: None once the SDK is loaded (nothing left to save).
    """
    where = _own_target(service, environ, cold_only)
    if where is None or own:
        return where
    from opsfn.services import scoped

    narrowed = scoped.current(valid_for)
    return where if narrowed is None else Target(narrowed, where.region, where.endpoint)


def _own_target(service: str, environ: Mapping[str, str] | None, cold_only: bool
                ) -> Target | None:
    if cold_only and sdk_loaded():
        return None
    env = os.environ if environ is None else environ
    access, secret = env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY")
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or ""
    if not access or not secret or not region or any(env.get(v) for v in _SDK_ONLY) \
            or _config_names_endpoint(env):
        return None
    if env.get(f"AWS_ENDPOINT_URL_{service.upper()}"):
        return None  # the SDK's own rules (addressing, precedence) for a per-service endpoint
    endpoint = env.get("AWS_ENDPOINT_URL")
    if endpoint:
        if not plain_endpoint(endpoint):
            return None
    elif not AWS_REGION.match(region):
        return None
    return Target(Credentials(access, secret, env.get("AWS_SESSION_TOKEN") or None), region,
                  endpoint or None)
