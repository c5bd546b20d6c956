"""At most one handling per SES message id, however often SES or Lambda delivers the event.

The outcome of a handled message (forwarded, blocked, too large) is remembered in LOCK_TABLE under
``ses-relay:<message id>``; a delivery that finds it does nothing again and answers the same. A
short lock keeps two concurrent copies from both sending: the late one gets :class:`Conflict`
(retryable), and its retry finds the outcome. A failure before the outcome is stored leaves no
record, so the retry handles the message again. This module is the one place to swap for the
shared idempotency helper.
"""

from __future__ import annotations

from collections.abc import Callable

from opsfn.core.invocation import Context
from opsfn.errors import Conflict
from opsfn.services import locks

PREFIX = "ses-relay"


def once(message_id: str, remember_s: int, handle: Callable[[], str], context: Context
         ) -> tuple[str, bool]:
    """``handle()`` at most once per message id; returns (its outcome, whether it was remembered)."""
    record = f"{PREFIX}:{message_id}"
    known = locks.recall(record)
    if known is not None:
        return known, True
    try:
        lock = locks.acquire(f"{PREFIX}-busy:{message_id}", max(60, context.remaining_ms() // 1000 + 60))
    except Conflict:
        raise Conflict("another delivery of this message is being handled") from None
    try:
        known = locks.recall(record)
        if known is not None:
            return known, True
        outcome = handle()
        kept = locks.remember(record, outcome, remember_s)
        return kept, kept != outcome
    finally:
        locks.release(lock)
