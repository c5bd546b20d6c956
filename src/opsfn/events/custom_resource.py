"""CloudFormation custom resources: the request, the answer body, and the one answer PUT.

CloudFormation waits (up to an hour) for one PUT to the presigned ``ResponseURL``. The answer must
be at most 4,096 bytes, carry a stable ``PhysicalResourceId`` and be sent exactly once; a non-2xx
answer from S3 means CloudFormation never saw it, so it counts as a failure and is retried within a
bounded time.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from opsfn.events.envelope import Envelope
from opsfn.events.jsonable import dumps_bytes

MAX_RESPONSE_BYTES = 4096
MIN_ATTEMPT_S = 0.05  # a PUT to S3 needs tens of milliseconds; less time left is no attempt
_REASON_SUFFIX = " [truncated]"


@dataclass(slots=True)
class CustomResourceRequest(Envelope):
    """The fields of a custom resource request a route may need."""

    request_type: Literal["Create", "Update", "Delete"]
    resource_type: str
    response_url: str
    stack_id: str
    request_id: str
    logical_resource_id: str
    physical_resource_id: str | None
    properties: dict[str, Any]
    old_properties: dict[str, Any] | None

    def default_physical_id(self) -> str:
        """A stable id from stack and logical id, so a retried Create gets the same one."""
        # surrogatepass: a lone surrogate must not cost the request its one answer
        key = f"{self.stack_id}|{self.logical_resource_id}".encode("utf-8", "surrogatepass")
        digest = hashlib.sha256(key).hexdigest()
        return f"{self.logical_resource_id[:80]}-{digest[:16]}"


@dataclass(slots=True)
class CustomResourceResult:
    """What a custom resource route may return: a physical id, Data, and NoEcho for secrets."""

    physical_resource_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    no_echo: bool = False


def parse_request(event: dict[str, Any]) -> CustomResourceRequest:
    """Normalise a request; ``ServiceToken`` is dropped from the properties."""
    properties = event.get("ResourceProperties")
    properties = dict(properties) if isinstance(properties, dict) else {}
    properties.pop("ServiceToken", None)
    old = event.get("OldResourceProperties")
    old_properties = dict(old) if isinstance(old, dict) else None
    if old_properties is not None:
        old_properties.pop("ServiceToken", None)
    get = event.get  # walrus checks below: no call per field (this runs on every request)
    physical = get("PhysicalResourceId")
    return CustomResourceRequest(
        request_type=event["RequestType"],
        resource_type=value if isinstance(value := get("ResourceType"), str) else "",
        response_url=value if isinstance(value := get("ResponseURL"), str) else "",
        stack_id=value if isinstance(value := get("StackId"), str) else "",
        request_id=value if isinstance(value := get("RequestId"), str) else "",
        logical_resource_id=value if isinstance(value := get("LogicalResourceId"), str) else "",
        physical_resource_id=physical if isinstance(physical, str) and physical else None,
        properties=properties,
        old_properties=old_properties,
    )


def _fit(body: dict[str, Any]) -> bytes:
    encoded = dumps_bytes(body)
    if len(encoded) <= MAX_RESPONSE_BYTES:
        return encoded
    reason = str(body.get("Reason", ""))
    overflow = len(encoded) - MAX_RESPONSE_BYTES
    keep = max(0, len(reason.encode()) - overflow - len(_REASON_SUFFIX) - 8)
    body["Reason"] = reason.encode()[:keep].decode("utf-8", "ignore") + _REASON_SUFFIX
    encoded = dumps_bytes(body)
    if len(encoded) <= MAX_RESPONSE_BYTES:
        return encoded
    # Data alone is too large: CloudFormation would reject it, so answer FAILED and say why.
    body.update(Status="FAILED", Data={}, Reason="response Data exceeds 4096 bytes")
    body.pop("NoEcho", None)
    return dumps_bytes(body)


def response_body(
    request: CustomResourceRequest,
    *,
    status: Literal["SUCCESS", "FAILED"],
    reason: str,
    physical_resource_id: str,
    data: dict[str, Any] | None = None,
    no_echo: bool = False,
) -> bytes:
    """The JSON CloudFormation expects, at most 4,096 bytes (the Reason is cut to fit)."""
    body: dict[str, Any] = {
        "Status": status,
        "Reason": reason or status,
        "PhysicalResourceId": physical_resource_id,
        "StackId": request.stack_id,
        "RequestId": request.request_id,
        "LogicalResourceId": request.logical_resource_id,
        "NoEcho": no_echo,
        "Data": data or {},
    }
    return _fit(body)


@dataclass(frozen=True, slots=True)
class SendPolicy:
    """How hard to try: attempts, per-attempt socket timeout and the pause between attempts."""

    attempts: int = 4
    timeout_s: float = 5.0
    backoff_s: float = 0.5


def safe_url_for_logs(url: str) -> str:
    """Scheme, host and path only: the query of a presigned URL is a credential."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}{parts.path}"


_TLS: list[Any] = []  # one verifying context per process: loading the CA store is the slow part


MAX_STATUS_LINE = 8192


def _put(url: str, body: bytes, timeout_s: float) -> int:
    """One PUT of ``body`` (no Content-Type, as CloudFormation's presigned URL wants); its status.

    HTTP/1.1 over a socket (TLS with the default verifying context for https): one request, the
    status line read back, the connection closed. ``http.client`` costs ~15 ms to import (its
    email parser) and ``urllib.request`` ~25 ms, in the cold start of every custom resource
    answer; neither adds anything to one PUT whose reply body nobody reads. A proxy in the
    environment is honoured through ``urllib``.
    """
    import socket

    if any(os.environ.get(name) for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY",
                                             "http_proxy")):
        return _put_through_proxy(url, body, timeout_s)
    parts = urlsplit(url)
    host = parts.hostname
    if not host:
        raise ValueError("ResponseURL has no host")
    secure = parts.scheme == "https"
    default_port = 443 if secure else 80
    port = default_port if parts.port is None else parts.port
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    # Host as http.client writes it (the presigned signature covers it): no user info, brackets
    # around an IPv6 literal, the port only when it is not the scheme's default.
    authority = f"[{host}]" if ":" in host else host
    if port != default_port:
        authority += f":{port}"
    if any(ord(c) <= 0x20 or ord(c) >= 0x7F for c in target + authority):
        raise ValueError("ResponseURL is not a valid request target")  # no header injection
    head = (f"PUT {target} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: \r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n")
    give_up = time.monotonic() + timeout_s  # for the whole exchange, not per socket call
    with socket.create_connection((host, port), timeout=timeout_s) as raw:
        channel = _tls_context().wrap_socket(raw, server_hostname=host) if secure else raw
        with channel:
            channel.sendall(head.encode("ascii") + body)
            return _status(channel, give_up)


def _tls_context() -> Any:
    if not _TLS:
        import ssl

        _TLS.append(ssl.create_default_context())
    return _TLS[0]


def _status(channel: Any, give_up: float) -> int:
    """The status code of the reply's first line (``HTTP/1.x NNN reason``)."""
    received = b""
    while b"\r\n" not in received:
        left = give_up - time.monotonic()
        if left <= 0:
            raise TimeoutError("no status line in time")
        channel.settimeout(left)
        chunk = channel.recv(4096)
        if not chunk or len(received) > MAX_STATUS_LINE:
            raise ConnectionError("no HTTP status line")
        received += chunk
    version, _, rest = received.split(b"\r\n", 1)[0].partition(b" ")
    code = rest[:3]
    if not version.startswith(b"HTTP/1.") or not code.isdigit():
        raise ConnectionError("no HTTP status line")
    return int(code)


def _put_through_proxy(url: str, body: bytes, timeout_s: float) -> int:
    import urllib.request

    request = urllib.request.Request(  # noqa: S310 - the caller checked the scheme
        url, data=body, method="PUT", headers={"Content-Type": "", "Content-Length": str(len(body))})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler())  # the proxies set now
    try:
        with opener.open(request, timeout=timeout_s) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except urllib.error.URLError as exc:  # its reason is the network error itself
        raise exc.reason if isinstance(exc.reason, OSError) else OSError(exc.reason) from None


def send_response(
    url: str,
    body: bytes,
    *,
    policy: SendPolicy,
    deadline: Callable[[], float],
) -> tuple[bool, str]:
    """PUT ``body`` to ``url`` with bounded retries; ``deadline()`` gives seconds left.

    Returns (delivered, detail). Never raises: the caller has nobody else to tell.
    """
    if urlsplit(url).scheme not in ("https", "http"):
        return False, "ResponseURL is not an http(s) URL"
    detail = "not attempted"
    for attempt in range(policy.attempts):
        left = deadline()
        if left <= MIN_ATTEMPT_S:
            return False, f"no time left after {attempt} attempt(s): {detail}"
        try:
            status = _put(url, body, min(policy.timeout_s, left))
        except (OSError, ValueError) as exc:  # refused, unresolvable, timed out, TLS, bad URL
            detail = type(exc).__name__
        else:
            if 200 <= status < 300:
                return True, f"HTTP {status}"
            detail = f"HTTP {status}"
            if 400 <= status < 500 and status not in (408, 429):
                return False, detail  # an expired or wrong URL will not heal
        pause = policy.backoff_s * (2**attempt)
        if attempt + 1 < policy.attempts and deadline() > pause + MIN_ATTEMPT_S:
            time.sleep(pause)
    return False, f"gave up after {policy.attempts} attempts: {detail}"
