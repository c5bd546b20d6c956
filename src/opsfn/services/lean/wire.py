"""One HTTP request over ``http.client``, verified as the SDK verifies (``AWS_CA_BUNDLE``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from opsfn.services.lean.where import USE_SDK, UseSdk

TIMEOUT_S = 10.0


def connection(url: str, environ: Mapping[str, str] | None, timeout_s: float = TIMEOUT_S) -> Any:
    """A connection to ``url``'s host: TLS against the SDK's roots for https."""
    import http.client

    parts = urlsplit(url)
    if parts.scheme == "https":
        import ssl

        # The SDK verifies against AWS_CA_BUNDLE when it is set, else the system's roots.
        bundle = (os.environ if environ is None else environ).get("AWS_CA_BUNDLE") or None
        return http.client.HTTPSConnection(parts.netloc, timeout=timeout_s,
                                           context=ssl.create_default_context(cafile=bundle))
    return http.client.HTTPConnection(parts.netloc, timeout=timeout_s)


def post(url: str, body: bytes, headers: dict[str, str], environ: Mapping[str, str] | None
         ) -> tuple[int, bytes, str | None] | UseSdk:
    """(status, body, CRC32 header) of one POST, or USE_SDK when the network failed."""
    import http.client

    link = connection(url, environ)
    try:
        link.request("POST", urlsplit(url).path or "/", body=body, headers=headers)
        reply = link.getresponse()
        return reply.status, reply.read(), reply.getheader("x-amz-crc32")
    except (OSError, http.client.HTTPException):
        return USE_SDK
    finally:
        link.close()
