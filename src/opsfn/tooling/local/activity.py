"""What the local stack did, for the upload page's side panel: the last events, their routes and
results, pushed to the page as they happen (Server-Sent Events).

An entry names the trigger, the kind opsfn detected, the routes that ran and how each ended. It
never holds a payload, a body, an object key or anything else from the event itself.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

from opsfn.tooling.local.runtime import Outcome


def summary(outcome: Outcome) -> str:
    """A short word on how an invocation ended (no values from the event or the reply)."""
    if not outcome.ok:
        error = outcome.error or {}
        return f"{error.get('errorType')}: {error.get('errorMessage')}"
    result = outcome.result
    if isinstance(result, dict):
        if "statusCode" in result:
            return f"HTTP {result['statusCode']}"
        if isinstance(result.get("batchItemFailures"), list):
            failed = len(result["batchItemFailures"])
            return f"{failed} message(s) failed" if failed else "batch done"
        if result.get("parked"):
            return f"parked in the failed-events queue ({result.get('error')})"
    return "ok"


class Activity:
    """A bounded log of entries, and a way to wait for the next ones."""

    def __init__(self, size: int = 200) -> None:
        self._entries: deque[dict[str, Any]] = deque(maxlen=size)
        self._seq = 0
        self._changed = threading.Condition()
        self._closed = False

    def record(self, outcome: Outcome, trigger: str) -> None:
        """Add the entry of one invocation (a :class:`Runtime` ``on_outcome`` callback)."""
        self.add({"trigger": trigger, "kind": outcome.kind,
                  "routes": [{"route": label, "ok": ok} for label, ok in outcome.routes.items()],
                  "ok": outcome.ok, "result": summary(outcome), "ms": round(outcome.ms, 1),
                  "requestId": outcome.request_id})

    def add(self, entry: dict[str, Any]) -> None:
        """Add an entry (numbered, timestamped) and wake every waiting stream."""
        with self._changed:
            self._seq += 1
            self._entries.append({"seq": self._seq, "time": time.strftime("%H:%M:%S"), **entry})
            self._changed.notify_all()

    def since(self, seq: int) -> list[dict[str, Any]]:
        """Entries after ``seq`` (the oldest first)."""
        with self._changed:
            return [entry for entry in self._entries if entry["seq"] > seq]

    def wait(self, seq: int, timeout: float) -> list[dict[str, Any]] | None:
        """Entries after ``seq``, waiting up to ``timeout`` for one; None once closed."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not self._closed:
                fresh = [entry for entry in self._entries if entry["seq"] > seq]
                remaining = deadline - time.monotonic()
                if fresh or remaining <= 0:
                    return fresh
                self._changed.wait(remaining)
            return None

    def close(self) -> None:
        """End every stream (the stack is stopping)."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
