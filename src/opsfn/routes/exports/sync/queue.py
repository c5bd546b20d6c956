"""Work items on the action queue: continuations of a stopped sync and shards of a big tree."""

from __future__ import annotations

import json
from typing import Any

from opsfn.errors import UpstreamError
from opsfn.services import aws
from opsfn.settings import CoreSettings


def queue_url() -> str:
    """The action queue's URL from OPSFN_ACTION_QUEUE (a URL, a name or an ARN)."""
    value = CoreSettings.current().required("OPSFN_ACTION_QUEUE")
    if value.startswith(("https://", "http://")):
        return value
    name = value.rsplit(":", 1)[-1]
    url: str = aws.client("sqs").get_queue_url(QueueName=name)["QueueUrl"]
    return url


def enqueue(items: list[dict[str, Any]]) -> int:
    """Send work items (``{"action": ..., ...}``) in batches of ten; returns how many were sent."""
    if not items:
        return 0
    url = queue_url()
    client = aws.client("sqs")
    sent = 0
    for start in range(0, len(items), 10):
        batch = items[start:start + 10]
        reply = client.send_message_batch(QueueUrl=url, Entries=[
            {"Id": str(index), "MessageBody": json.dumps(item, separators=(",", ":"))}
            for index, item in enumerate(batch)])
        if reply.get("Failed"):
            raise UpstreamError("AWS SendMessageBatch failed: "
                                + str(reply["Failed"][0].get("Code", "Unknown"))[:64])
        sent += len(batch)
    return sent
