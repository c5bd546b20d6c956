"""Asynchronous invocations, as Lambda runs them: queued, retried, then sent to a destination.

Lambda retries a failed asynchronous invocation ``MaximumRetryAttempts`` times (the template's
``EventInvokeConfig``, default 2), about a minute and then two minutes apart, and then sends an
invocation record to the ``OnFailure`` destination. Locally the retries come after
``retry_seconds`` and twice that, so a failure reaches the failed-events queue within seconds.
"""

from __future__ import annotations

import heapq
import itertools
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from opsfn.tooling.local.runtime import FunctionRuntime, Outcome

Log = Callable[[str], None]
Send = Callable[[str, dict[str, Any]], None]  # (destination ARN, record)


@dataclass(frozen=True, slots=True)
class InvokeConfig:
    """The function's ``EventInvokeConfig``, resolved to ARNs."""

    max_retries: int = 2
    on_failure: str | None = None
    on_success: str | None = None


def invocation_record(event: Any, outcome: Outcome, function_arn: str, attempts: int,
                      condition: str) -> dict[str, Any]:
    """The record Lambda sends to a destination (its documented shape)."""
    response: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
    if not outcome.ok:
        response["functionError"] = "Unhandled"
    now = datetime.now(UTC)
    return {
        "version": "1.0",
        "timestamp": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z",
        "requestContext": {"requestId": outcome.request_id,
                           "functionArn": f"{function_arn}:$LATEST", "condition": condition,
                           "approximateInvokeCount": attempts},
        "requestPayload": event,
        "responseContext": response,
        "responsePayload": outcome.result if outcome.ok else outcome.error,
    }


@dataclass(order=True)
class _Item:
    due: float
    order: int
    event: Any = field(compare=False)
    label: str = field(compare=False)
    attempt: int = field(compare=False, default=1)
    request_id: str = field(compare=False, default_factory=lambda: str(uuid.uuid4()))


class AsyncInvoker:
    """One worker that runs queued events, retrying failures and reporting them."""

    def __init__(self, runtime: FunctionRuntime, config: InvokeConfig, send: Send, log: Log, *,
                 retry_seconds: float = 1.0) -> None:
        self.runtime = runtime
        self.config = config
        self.send = send
        self.log = log
        self.retry_seconds = retry_seconds
        self._queue: list[_Item] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._work, name="async-invoke", daemon=True)
        self._thread.start()

    def submit(self, event: Any, label: str) -> None:
        """Queue ``event`` (what Lambda does when it answers 202)."""
        self._push(_Item(time.monotonic(), next(self._order), event, label))

    def _push(self, item: _Item) -> None:
        with self._wake:
            heapq.heappush(self._queue, item)
            self._wake.notify()

    def _next(self) -> _Item | None:
        with self._wake:
            while not self._stopped:
                if self._queue and self._queue[0].due <= time.monotonic():
                    return heapq.heappop(self._queue)
                timeout = self._queue[0].due - time.monotonic() if self._queue else None
                self._wake.wait(timeout)
            return None

    def _work(self) -> None:
        while (item := self._next()) is not None:
            label = item.label if item.attempt == 1 else f"{item.label} (retry {item.attempt - 1})"
            outcome = self.runtime.run(item.event, label, request_id=item.request_id)
            if outcome.ok:
                self._deliver(self.config.on_success, item, outcome, "Success")
            elif item.attempt <= self.config.max_retries:
                delay = self.retry_seconds * 2 ** (item.attempt - 1)
                self._push(_Item(time.monotonic() + delay, next(self._order), item.event,
                                 item.label, item.attempt + 1, item.request_id))
            else:
                self._deliver(self.config.on_failure, item, outcome, "RetriesExhausted")

    def _deliver(self, destination: str | None, item: _Item, outcome: Outcome,
                 condition: str) -> None:
        if destination is None:
            if condition != "Success":
                self.log(f"{item.label}: failed {item.attempt} time(s); no OnFailure destination")
            return
        record = invocation_record(item.event, outcome, self.runtime.function_arn, item.attempt,
                                   condition)
        try:
            self.send(destination, record)
        except Exception as exc:  # noqa: BLE001 - the local stack keeps running
            self.log(f"{item.label}: destination {destination} failed ({type(exc).__name__})")
            return
        if condition != "Success":
            self.log(f"{item.label}: failed {item.attempt} time(s); invocation record sent to "
                     f"{destination.rsplit(':', 1)[-1]}")

    def pending(self) -> int:
        """Events queued or waiting for a retry."""
        with self._wake:
            return len(self._queue)

    def stop(self) -> None:
        """Stop the worker (queued events are dropped, as the process ends)."""
        with self._wake:
            self._stopped = True
            self._wake.notify_all()
        self._thread.join(timeout=5)


def send_to_destination(client: Callable[[str], Any]) -> Send:
    """A sender to SQS queues and SNS topics, by ARN, through ``client(service)``."""

    def send(arn: str, record: dict[str, Any]) -> None:
        service = arn.split(":")[2] if arn.count(":") >= 5 else ""
        body = json.dumps(record, default=str)
        if service == "sqs":
            sqs = client("sqs")
            url = sqs.get_queue_url(QueueName=arn.rsplit(":", 1)[-1])["QueueUrl"]
            sqs.send_message(QueueUrl=url, MessageBody=body)
        elif service == "sns":
            client("sns").publish(TopicArn=arn, Message=body)
        else:
            raise ValueError(f"destination {arn} is not an SQS queue or SNS topic")

    return send
