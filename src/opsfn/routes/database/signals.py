"""Where activity comes from: opsfn's own record, the application's DynamoDB item, connections.

Auto-stop reads the signals DB_ACTIVITY_SIGNALS names and takes the latest time any of them
reports. Each reader returns None when its signal has nothing to say (no item, no connection in
the window); a value that is there but cannot be read is an error, because guessing "idle" could
stop a database in use.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

from opsfn.errors import InvalidContent, InvalidSetting
from opsfn.routes.database.rds import Database
from opsfn.routes.database.settings import DatabaseSettings
from opsfn.services import aws

RECORD, TABLE, CONNECTIONS = "record", "table", "connections"
KNOWN = (RECORD, TABLE, CONNECTIONS)
PERIOD_S = 60  # RDS publishes DatabaseConnections every minute


def configured() -> tuple[str, ...]:
    """The signals DB_ACTIVITY_SIGNALS names (an unknown name is an invalid setting)."""
    names = tuple(dict.fromkeys(part.strip().lower() for part in
                                DatabaseSettings.current().db_activity_signals.split(",")
                                if part.strip()))
    if not names or any(name not in KNOWN for name in names):
        raise InvalidSetting(["DB_ACTIVITY_SIGNALS"])
    return names


def parse_time(text: str) -> datetime:
    """ISO 8601, an offset or not (none means UTC, as ``datetime.utcnow().isoformat()`` writes),
    or epoch seconds; ValueError otherwise."""
    stripped = text.strip()
    try:
        return datetime.fromtimestamp(float(Decimal(stripped)), UTC)
    except (InvalidOperation, ValueError, OverflowError):
        pass
    moment = datetime.fromisoformat(stripped.replace("Z", "+00:00"))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def table_activity() -> datetime | None:
    """The application's last-use time from its own table, or None when it has no such item."""
    settings = DatabaseSettings.current()
    table = settings.required("DB_ACTIVITY_TABLE")
    item = aws.client("dynamodb").get_item(
        TableName=table, Key={settings.db_activity_key_name: {"S": settings.db_activity_key_value}},
        ConsistentRead=True).get("Item")
    if not item:
        return None
    value = item.get(settings.db_activity_attribute, {})
    text = value.get("S") if "S" in value else value.get("N")
    if text is None:
        raise InvalidContent("the last-use item has no DB_ACTIVITY_ATTRIBUTE time")
    try:
        return parse_time(str(text))
    except ValueError:
        raise InvalidContent("the last-use item's time is neither ISO 8601 nor epoch seconds") \
            from None


def connections_activity(db: Database, now: datetime, window: timedelta) -> datetime | None:
    """The end of the latest minute with a connection open within ``window``, or None (idle)."""
    dimension = "DBClusterIdentifier" if db.kind == "cluster" else "DBInstanceIdentifier"
    reply = aws.client("cloudwatch").get_metric_statistics(
        Namespace="AWS/RDS", MetricName="DatabaseConnections",
        Dimensions=[{"Name": dimension, "Value": db.identifier}],
        StartTime=now - window, EndTime=now, Period=PERIOD_S, Statistics=["Maximum"])
    busy = [point["Timestamp"] for point in reply.get("Datapoints", [])
            if float(point.get("Maximum", 0)) > 0]
    if not busy:
        return None
    latest = max(busy).astimezone(UTC) + timedelta(seconds=PERIOD_S)
    return min(latest, now)
