"""Where the TLS files live under ``SSL_DIR``: read by the routes and by ``opsfn tls-status``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

MARKER = "docker-selfsigned-configured"
LOCK_NAME = ".opsfn-ssl.lock"


@dataclass(frozen=True, slots=True)
class Layout:
    """Where each file lives under ``SSL_DIR`` (the web image's ``/etc/ssl`` layout)."""

    root: Path

    @property
    def key(self) -> Path:
        return self.root / "private" / "selfsigned.key.pem"

    @property
    def cert(self) -> Path:
        return self.root / "certs" / "selfsigned.cert.pem"

    @property
    def web_key(self) -> Path:
        return self.root / "private" / "webserver.key.pem"

    @property
    def web_cert(self) -> Path:
        return self.root / "certs" / "webserver.cert.pem"

    @property
    def marker(self) -> Path:
        return self.root / MARKER

    @property
    def lock(self) -> Path:
        return self.root / LOCK_NAME

    def paths(self) -> dict[str, str]:
        """Every published path, for replies."""
        return {"key": str(self.key), "cert": str(self.cert), "webserver_key": str(self.web_key),
                "webserver_cert": str(self.web_cert), "marker": str(self.marker)}
