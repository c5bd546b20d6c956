"""A lean PutObject for small files, with the SDK's own put_object as the fallback.

A botocore ``put_object`` costs about 1.7 ms of CPU per call, most of it in per-call work a sync
of thousands of small files repeats needlessly: endpoint rules evaluated again for every key,
event hooks, user agent. This path resolves the bucket's URL once (from a presigned URL, so the
SDK's endpoint rules decide), signs each request with the SDK's SigV4 signer and the session's
credentials, lets ``before-send`` hooks answer as the SDK does (emulators, stubs), and sends it on
one keep-alive ``http.client`` connection per upload thread (a pool's bookkeeping per request
costs more than the request itself). Anything but a 200 returns False and the caller uses
``put_object``, which brings the SDK's retries and error parsing.
"""

from __future__ import annotations

import os
import threading
from typing import Any
from urllib.parse import quote, urlsplit

from opsfn.access import check

_PROBE = "opsfn-probe-key"
_PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy")


class FastPut:
    """Signed single-request uploads to one bucket; ``put`` returns False to ask for a fallback."""

    def __init__(self, client: Any, credentials: Any, bucket: str) -> None:
        self.client = client
        self.credentials = credentials
        self.bucket = bucket
        self.region = client.meta.region_name or "us-east-1"
        self.base: str | None = None
        self.enabled = (credentials is not None and ":" not in bucket
                        and not any(os.environ.get(name) for name in _PROXY_VARIABLES))
        self._sent = 0
        self._refused = 0
        self._local = threading.local()
        self._tls: Any = None
        self._lock = threading.Lock()

    def _prepare(self) -> bool:
        with self._lock:
            if self.base is None and self.enabled:
                url = self.client.generate_presigned_url(
                    "put_object", Params={"Bucket": self.bucket, "Key": _PROBE}, ExpiresIn=60)
                path = url.split("?", 1)[0]
                if path.endswith("/" + _PROBE) and path.startswith(("http://", "https://")):
                    if path.startswith("https://"):
                        import ssl

                        from botocore.httpsession import get_cert_path

                        # The roots the SDK verifies against: AWS_CA_BUNDLE, else its bundle.
                        cafile = os.environ.get("AWS_CA_BUNDLE") or get_cert_path(True)
                        self._tls = ssl.create_default_context(cafile=cafile)
                    # Last: other threads read ``base`` without the lock, and must find the TLS
                    # context ready once they see it.
                    self.base = path[: -len(_PROBE)]
                else:
                    self.enabled = False
        return self.enabled

    def _connection(self) -> Any:
        """This thread's connection to the bucket's host, opened on first use."""
        connection = getattr(self._local, "connection", None)
        if connection is None:
            import http.client

            assert self.base is not None
            parts = urlsplit(self.base)
            if parts.scheme == "https":  # the URL decides: never plain HTTP for an https bucket
                connection = http.client.HTTPSConnection(parts.netloc, timeout=30.0,
                                                         context=self._tls)
            else:
                connection = http.client.HTTPConnection(parts.netloc, timeout=30.0)
            self._local.connection = connection
        return connection

    def _send(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        """PUT on this thread's connection; the connection is dropped when the server closes it."""
        parts = urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        connection = self._connection()
        try:
            connection.request("PUT", target, body=body, headers=headers)
            reply = connection.getresponse()
            reply.read()
        except Exception:
            connection.close()
            self._local.connection = None
            raise
        if reply.will_close:
            connection.close()
            self._local.connection = None
        return int(reply.status)

    def put(self, key: str, body: bytes, headers: dict[str, str]) -> bool:
        """Upload ``body`` to ``key``; False when the caller should use ``put_object`` instead."""
        if not self.enabled or (self.base is None and not self._prepare()):
            return False
        from botocore.auth import S3SigV4Auth
        from botocore.awsrequest import AWSRequest

        check("s3:PutObject")
        assert self.base is not None
        request = AWSRequest("PUT", self.base + quote(key, safe="/~"), data=body, headers=headers)
        S3SigV4Auth(self.credentials.get_frozen_credentials(), "s3", self.region).add_auth(request)
        prepared = request.prepare()
        try:
            answers = self.client.meta.events.emit("before-send.s3.PutObject", request=prepared)
            response = next((answer for _, answer in answers if answer is not None), None)
            if response is None:
                status = self._send(prepared.url, body, dict(prepared.headers))
            else:
                status = int(response.status_code)
        except Exception:  # noqa: BLE001 - any transport trouble: the SDK path retries properly
            status = 0
        return self._record(status == 200)

    def _record(self, ok: bool) -> bool:
        """Count outcomes; a path that never works (a redirect to another region) is switched off."""
        with self._lock:
            if ok:
                self._sent += 1
            else:
                self._refused += 1
                if self._sent == 0 and self._refused >= 3:
                    self.enabled = False
        return ok
