"""Inject AWS faults into boto3 calls, per HTTP attempt, to prove retries and error handling.

The hook runs on botocore's ``before-send`` event ahead of every other handler (moto included),
so a faulted attempt never reaches the service and botocore's own retry logic sees a throttle, a
500 or a read timeout exactly as it would from AWS.

    with inject_faults(rate=0.3, seed=7) as faults:
        client.invoke("export_rds_snapshot")
    faults.injected  # how many attempts were faulted, by kind
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from opsfn.services import aws

KINDS = ("throttle", "server_error", "timeout")
# botocore calls every before-send handler even after one answered; an in-process emulator (moto)
# would still serve the faulted attempt, so it is pointed at a host no emulator claims.
_NOWHERE = "https://opsfn-injected-fault.invalid/"


def _error(service: str, headers: Any, throttle: bool) -> tuple[int, bytes, dict[str, str]]:
    """An error reply in the wire protocol the request used (JSON, query, REST-JSON or S3)."""
    if service == "s3":
        code, status = ("SlowDown", 503) if throttle else ("InternalError", 500)
        body = f"<Error><Code>{code}</Code><Message>injected</Message></Error>"
        return status, body.encode(), {"content-type": "application/xml"}
    status = 400 if throttle else 500
    content_type = str(headers.get("Content-Type", b"") or b"")
    if "x-www-form-urlencoded" in content_type:
        code = "Throttling" if throttle else "InternalFailure"
        body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>injected"
                "</Message></Error><RequestId>injected</RequestId></ErrorResponse>")
        return status, body.encode(), {"content-type": "text/xml"}
    code = "ThrottlingException" if throttle else "InternalFailure"
    body = f'{{"__type":"{code}","message":"injected"}}'
    return status, body.encode(), {"content-type": "application/x-amz-json-1.1",
                                   "x-amzn-errortype": code}


@dataclass
class FaultPlan:
    """Which faults to inject and at what rate; counts what was injected."""

    rate: float
    kinds: tuple[str, ...] = KINDS
    seed: int = 0
    operations: frozenset[str] | None = None
    injected: Counter[str] = field(default_factory=Counter)
    attempts: int = 0

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)
        self._lock = threading.Lock()

    def draw(self, operation: str) -> str | None:
        """The fault for this attempt, or None."""
        if self.operations is not None and operation not in self.operations:
            return None
        with self._lock:
            self.attempts += 1
            if self._random.random() >= self.rate:
                return None
            kind = self._random.choice(self.kinds)
            self.injected[kind] += 1
            return kind


def _response(request: Any, status: int, body: bytes, headers: dict[str, str]) -> Any:
    from botocore.awsrequest import AWSResponse

    class _Raw:
        def __init__(self, data: bytes) -> None:
            self._data = data

        def stream(self, **_: Any) -> Iterator[bytes]:
            yield self._data

        def read(self, *_: Any) -> bytes:
            data, self._data = self._data, b""
            return data

    raw_headers: Any = headers
    return AWSResponse(request.url, status, raw_headers, _Raw(body))


def _hook(plan: FaultPlan) -> Any:
    def before_send(request: Any, event_name: str = "", **_: Any) -> Any:
        parts = event_name.split(".")
        service, operation = (parts[1], parts[-1]) if len(parts) >= 3 else ("", "")
        kind = plan.draw(operation)
        if kind is None:
            return None
        if kind == "timeout":
            from botocore.exceptions import ReadTimeoutError

            raise ReadTimeoutError(endpoint_url=request.url)
        status, body, headers = _error(service, request.headers, kind == "throttle")
        response = _response(request, status, body, headers)
        request.url = _NOWHERE
        return response

    return before_send


@contextmanager
def inject_faults(rate: float, *, kinds: tuple[str, ...] = KINDS, seed: int = 0,
                  operations: set[str] | None = None) -> Iterator[FaultPlan]:
    """Fault a share ``rate`` of every boto3 HTTP attempt made through ``opsfn.services.aws`` clients."""
    plan = FaultPlan(rate, kinds, seed, frozenset(operations) if operations else None)
    aws.register_hook("before-send", _hook(plan), "opsfn-faults")
    try:
        yield plan
    finally:
        aws.unregister_hook("opsfn-faults")
