"""Counts of what the relay did, as CloudWatch embedded-metric documents (namespace ``opsfn``).

Metric names and the ``verdict`` dimension are fixed words; no address, subject or message id
ever becomes a dimension. ``POWERTOOLS_METRICS_DISABLED`` silences them like the route metrics.
"""

from __future__ import annotations

import json
import sys
import time

from opsfn.core.observability import NAMESPACE, SERVICE
from opsfn.settings import core_settings

FORWARDED = "MailForwarded"
BLOCKED = "MailBlocked"
TOO_LARGE = "MailTooLarge"


def count(metric: str, verdict: str | None = None) -> None:
    """Emit ``metric`` = 1 (with the ``verdict`` dimension when given)."""
    if core_settings().metrics_disabled:
        return
    dimensions = ["service", "verdict"] if verdict else ["service"]
    document = {
        "_aws": {"Timestamp": int(time.time() * 1000), "CloudWatchMetrics": [{
            "Namespace": NAMESPACE, "Dimensions": [dimensions],
            "Metrics": [{"Name": metric, "Unit": "Count"}]}]},
        "service": SERVICE,
        metric: 1,
    }
    if verdict:
        document["verdict"] = verdict
    sys.stdout.write(json.dumps(document, separators=(",", ":")) + "\n")
