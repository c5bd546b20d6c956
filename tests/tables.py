"""Create the shared DynamoDB tables in moto the way the template defines them."""

from __future__ import annotations

from opsfn import aws


def create_table(name: str, key: str, ttl: str | None = None) -> None:
    """A pay-per-request table with a string partition key and, optionally, a TTL attribute."""
    ddb = aws.client("dynamodb")
    ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": key, "KeyType": "HASH"}])
    if ttl:
        ddb.update_time_to_live(TableName=name, TimeToLiveSpecification={
            "Enabled": True, "AttributeName": ttl})
