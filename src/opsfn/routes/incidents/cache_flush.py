"""Clear a Redis cache: FLUSHALL (or FLUSHDB of one database) over TLS, password from Secrets Manager.

``dry_run`` only counts keys. The ``redis`` package is imported here, when a flush runs, never at
handler import.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from opsfn.errors import InvalidSetting, MissingSetting, UpstreamError
from opsfn.routes.incidents.settings import IncidentSettings
from opsfn.services import aws


@dataclass(frozen=True, slots=True)
class Credentials:
    """What AUTH needs; ``username`` only for ElastiCache RBAC users."""

    password: str
    username: str | None = None


def parse_secret(secret: str) -> Credentials | None:
    """A plain password, or JSON with ``password`` / ``auth_token`` / ``authToken`` (and ``username``)."""
    text = secret.strip()
    if not text:
        return None
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            return None
        if not isinstance(data, dict):
            return None
        password = data.get("password") or data.get("auth_token") or data.get("authToken")
        username = data.get("username")
        if not isinstance(password, str) or not password:
            return None
        return Credentials(password, username if isinstance(username, str) and username else None)
    return Credentials(text)


def credentials(secret_arn: str | None) -> Credentials:
    """The Redis credentials from the target's secret or REDIS_SECRET_ARN."""
    arn = secret_arn or IncidentSettings.current().redis_secret_arn
    if not arn:
        raise MissingSetting("REDIS_SECRET_ARN")
    reply = aws.client("secretsmanager").get_secret_value(SecretId=arn)
    parsed = parse_secret(str(reply.get("SecretString") or ""))
    if parsed is None:
        raise InvalidSetting(["REDIS_SECRET_ARN"])
    return parsed


def _key_count(client: Any, db: int | None) -> int:
    if db is not None:
        return int(client.dbsize())
    keyspace = client.info("keyspace")
    return sum(int(stats.get("keys", 0)) for stats in keyspace.values() if isinstance(stats, dict))


def flush(endpoint: Any, creds: Credentials, *, dry_run: bool, timeout_s: float) -> dict[str, Any]:
    """Flush (or, with ``dry_run``, count) the endpoint's keys; reports keys before and after."""
    import redis
    from redis.backoff import ExponentialBackoff
    from redis.retry import Retry

    options: dict[str, Any] = {}
    if endpoint.tls:
        options.update(ssl=True, ssl_cert_reqs="required", ssl_ca_certs=endpoint.ca_file)
    client = redis.Redis(
        host=endpoint.host, port=endpoint.port, db=endpoint.db or 0, password=creds.password,
        username=creds.username, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.1), 2),  # bounded: the caller retries too
        **options,
    )
    scope = "flushdb" if endpoint.db is not None else "flushall"
    try:
        before = _key_count(client, endpoint.db)
        if dry_run:
            return {"strategy": scope, "dryRun": True, "keys": before, "tls": endpoint.tls}
        if endpoint.db is not None:
            client.flushdb()
        else:
            client.flushall()
        after = _key_count(client, endpoint.db)
    except redis.AuthenticationError:
        raise UpstreamError("Redis rejected the credentials") from None
    except redis.RedisError as exc:
        raise UpstreamError(f"Redis call failed: {type(exc).__name__}") from None
    finally:
        client.close()
    return {"strategy": scope, "dryRun": False, "before": {"keys": before},
            "after": {"keys": after}, "tls": endpoint.tls}
