"""boto3 clients: created on first use, cached per process, all with one botocore Config.

Nothing here runs at import: ``import boto3`` alone costs about as much as a small route, so it
waits until a route actually calls AWS. ``AWS_ENDPOINT_URL`` (honoured by botocore itself) sends
every client to moto or another emulator.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

_lock = threading.Lock()
_clients: dict[tuple[str, str | None, str | None], Any] = {}
_hooks: dict[str, tuple[str, Callable[..., Any]]] = {}
_session: list[Any] = []  # one boto3 Session per process: its loader parses each model once


def config() -> Any:
    """The shared botocore Config: standard retries, bounded timeouts, SigV4 for S3 presigning."""
    from botocore.config import Config

    return Config(
        retries={"max_attempts": int(os.environ.get("OPSFN_AWS_MAX_ATTEMPTS", "5")),
                 "mode": "standard"},
        connect_timeout=float(os.environ.get("OPSFN_AWS_CONNECT_TIMEOUT", "5")),
        read_timeout=float(os.environ.get("OPSFN_AWS_READ_TIMEOUT", "30")),
        signature_version="v4",
        s3={"addressing_style": "virtual" if not os.environ.get("AWS_ENDPOINT_URL") else "path"},
        user_agent_extra="opsfn",
    )


def client(service: str, region: str | None = None) -> Any:
    """A cached client for ``service`` (per region and endpoint)."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL") or None
    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    key = (service, region, endpoint)
    found = _clients.get(key)
    if found is not None:
        return found
    with _lock:
        found = _clients.get(key)
        if found is None:
            import boto3

            if not _session:
                _session.append(boto3.session.Session())
            session: Any = _session[0]
            found = session.client(service, region_name=region, endpoint_url=endpoint,
                                   config=config())
            for unique_id, (event, handler) in _hooks.items():
                found.meta.events.register_first(event, handler, unique_id=unique_id)
            _clients[key] = found
    return found


def register_hook(event: str, handler: Callable[..., Any], unique_id: str) -> None:
    """Run ``handler`` first on ``event`` for every client, cached and future (fault injection)."""
    with _lock:
        _hooks[unique_id] = (event, handler)
        for found in _clients.values():
            found.meta.events.register_first(event, handler, unique_id=unique_id)


def unregister_hook(unique_id: str) -> None:
    """Remove a hook added by :func:`register_hook`."""
    with _lock:
        event, _ = _hooks.pop(unique_id, ("", None))
        if event:
            for found in _clients.values():
                found.meta.events.unregister(event, unique_id=unique_id)


def reset() -> None:
    """Forget every cached client (tests switch endpoints and credentials)."""
    with _lock:
        _clients.clear()
        _session.clear()
