"""Shared moto fixtures of state: the template's DynamoDB tables, and draining SQS queues."""

from __future__ import annotations

import json
from typing import Any

import pytest

from opsfn.services import aws


def create_table(name: str, key: str, ttl: str | None = None) -> None:
    """A pay-per-request table with a string partition key and, optionally, a TTL attribute."""
    ddb = aws.client("dynamodb")
    ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": key, "KeyType": "HASH"}])
    if ttl:
        ddb.update_time_to_live(TableName=name, TimeToLiveSpecification={
            "Enabled": True, "AttributeName": ttl})


def create_shared_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    """LOCK_TABLE, AUDIT_TABLE and IDEMPOTENCY_TABLE as the template defines them."""
    create_table("ops-locks", "lockId", "expiresAt")
    create_table("ops-audit", "auditId", None)
    create_table("ops-idempotency", "id", "expiration")
    monkeypatch.setenv("LOCK_TABLE", "ops-locks")
    monkeypatch.setenv("AUDIT_TABLE", "ops-audit")
    monkeypatch.setenv("IDEMPOTENCY_TABLE", "ops-idempotency")


def drain_queue(url: str) -> list[dict[str, Any]]:
    """Receive (and delete) every message of the queue; bodies parsed."""
    sqs = aws.client("sqs")
    bodies: list[dict[str, Any]] = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                          WaitTimeSeconds=0).get("Messages", []):
        for message in messages:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return bodies
