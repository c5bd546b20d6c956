"""Audit records: who did what to which target, when, with what result.

Records never hold secrets or patient data: callers pass identifiers of infrastructure (a service
name, an incident id) and a small result summary.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from opsfn.core.access import allow
from opsfn.core.access import table as table_named
from opsfn.services import aws
from opsfn.services.settings import SharedSettings

ACCESS = (allow("dynamodb:PutItem", on=table_named("AUDIT_TABLE")),)
"""What writing audit records needs: list it in the ``access=`` of a route that audits."""


def record(action: str, target: str, result: dict[str, Any], *, incident_id: str | None = None,
           audit_id: str | None = None, table: str | None = None, caller: str | None = None
           ) -> str:
    """Write one audit record and return its id; a given ``audit_id`` is written only once.

    ``caller`` is the authenticated identity that asked (a JWT subject or an IAM ARN), when the
    request came through an authorizer.
    """
    table = table or SharedSettings.current().required("AUDIT_TABLE")
    audit_id = audit_id or uuid.uuid4().hex
    item: dict[str, Any] = {
        "auditId": {"S": audit_id},
        "action": {"S": action},
        "target": {"S": target},
        "at": {"S": datetime.now(UTC).isoformat()},
        "epoch": {"N": str(int(time.time()))},
        "result": {"S": json.dumps(result, default=str, sort_keys=True)[:10_000]},
    }
    if incident_id:
        item["incidentId"] = {"S": incident_id}
    if caller:
        item["caller"] = {"S": caller[:2048]}
    client = aws.client("dynamodb")
    try:
        client.put_item(TableName=table, Item=item,
                        ConditionExpression="attribute_not_exists(auditId)")
    except client.exceptions.ConditionalCheckFailedException:
        pass  # the same audited event delivered twice: one record is enough
    return audit_id
