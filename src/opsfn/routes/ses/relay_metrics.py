"""Counts of what the relay did, as CloudWatch embedded-metric documents in the function's
namespace (``POWERTOOLS_METRICS_NAMESPACE``, as every opsfn metric).

Metric names and the ``verdict`` dimension are fixed words; no address, subject or message id
ever becomes a dimension. ``POWERTOOLS_METRICS_DISABLED`` silences them like the route metrics.
"""

from __future__ import annotations

from opsfn import emit_count

FORWARDED = "MailForwarded"
BLOCKED = "MailBlocked"
TOO_LARGE = "MailTooLarge"


def count(metric: str, verdict: str | None = None) -> None:
    """Emit ``metric`` = 1 (with the ``verdict`` dimension when given)."""
    if verdict:
        emit_count(metric, verdict=verdict)
    else:
        emit_count(metric)
