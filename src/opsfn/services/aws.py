"""boto3 clients: created on first use, cached per process, all with one botocore Config.

Nothing here runs at import: ``import boto3`` alone costs about as much as a small route, so it
waits until a route actually calls AWS. ``AWS_ENDPOINT_URL`` (honoured by botocore itself) sends
every client to moto or another emulator.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, overload

from opsfn.core import snapstart
from opsfn.core.access_check import before_call
from opsfn.core.settings import core_settings

if TYPE_CHECKING:  # the stubs are a development dependency: types only, nothing at run time
    from mypy_boto3_backup import BackupClient
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_datasync import DataSyncClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ecs import ECSClient
    from mypy_boto3_elasticache import ElastiCacheClient
    from mypy_boto3_glue import GlueClient
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_rds import RDSClient
    from mypy_boto3_rekognition import RekognitionClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_ses import SESClient
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_ssm import SSMClient
    from mypy_boto3_sts import STSClient

_lock = threading.Lock()
_clients: dict[tuple[str | None, ...], Any] = {}
_expiry: dict[tuple[str | None, ...], float] = {}  # a scoped client's: when its session ends
_hooks: dict[str, tuple[str, Callable[..., Any]]] = {}
_session: list[Any] = []  # one boto3 Session per process: its loader parses each model once


def config() -> Any:
    """The shared botocore Config: standard retries, bounded timeouts, SigV4 for S3 presigning."""
    from botocore.config import Config

    settings = core_settings()
    return Config(
        retries={"max_attempts": settings.aws_max_attempts, "mode": "standard"},
        connect_timeout=settings.aws_connect_timeout,
        read_timeout=settings.aws_read_timeout,
        signature_version="v4",
        s3={"addressing_style": "virtual" if not os.environ.get("AWS_ENDPOINT_URL") else "path"},
        user_agent_extra="opsfn",
    )


@overload
def client(service: Literal["backup"], region: str | None = None) -> BackupClient: ...

@overload
def client(service: Literal["cloudformation"], region: str | None = None) -> CloudFormationClient: ...

@overload
def client(service: Literal["cloudwatch"], region: str | None = None) -> CloudWatchClient: ...

@overload
def client(service: Literal["datasync"], region: str | None = None) -> DataSyncClient: ...

@overload
def client(service: Literal["dynamodb"], region: str | None = None) -> DynamoDBClient: ...

@overload
def client(service: Literal["ec2"], region: str | None = None) -> EC2Client: ...

@overload
def client(service: Literal["ecs"], region: str | None = None) -> ECSClient: ...

@overload
def client(service: Literal["elasticache"], region: str | None = None) -> ElastiCacheClient: ...

@overload
def client(service: Literal["glue"], region: str | None = None) -> GlueClient: ...

@overload
def client(service: Literal["iam"], region: str | None = None) -> IAMClient: ...

@overload
def client(service: Literal["lambda"], region: str | None = None) -> LambdaClient: ...

@overload
def client(service: Literal["rds"], region: str | None = None) -> RDSClient: ...

@overload
def client(service: Literal["rekognition"], region: str | None = None) -> RekognitionClient: ...

@overload
def client(service: Literal["s3"], region: str | None = None) -> S3Client: ...

@overload
def client(service: Literal["secretsmanager"], region: str | None = None) -> SecretsManagerClient: ...

@overload
def client(service: Literal["ses"], region: str | None = None) -> SESClient: ...

@overload
def client(service: Literal["sns"], region: str | None = None) -> SNSClient: ...

@overload
def client(service: Literal["sqs"], region: str | None = None) -> SQSClient: ...

@overload
def client(service: Literal["ssm"], region: str | None = None) -> SSMClient: ...

@overload
def client(service: Literal["sts"], region: str | None = None) -> STSClient: ...


@overload
def client(service: str, region: str | None = None) -> Any: ...


def client(service: str, region: str | None = None) -> Any:
    """A cached client for ``service`` (per region and endpoint), typed by the service's stubs."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL") or None
    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    # STS is how scoped credentials are made: it always runs on the function's own.
    narrowed = None if service == "sts" else _scoped_session()
    key: tuple[str | None, ...] = (service, region, endpoint) if narrowed is None else (
        service, region, endpoint, narrowed.credentials.access_key)
    found = _clients.get(key)
    if found is not None:
        return found
    with _lock:
        found = _clients.get(key)
        if found is None:
            if narrowed is not None:  # clients of sessions that have expired are of no more use
                now = time.time()
                for old in [k for k, expires in _expiry.items() if expires < now]:
                    _clients.pop(old, None)
                    del _expiry[old]
                _expiry[key] = narrowed.expires
            found = _clients[key] = _made(service, region, endpoint,
                                          narrowed and narrowed.credentials)
    return found


def _scoped_session() -> Any:
    """The running route's scoped session, if routes run on one (:mod:`opsfn.services.scoped`)."""
    from opsfn.services import scoped

    return scoped.current_session()


def _made(service: str, region: str | None, endpoint: str | None, narrowed: Any) -> Any:
    """A new client, held to the access check and carrying the registered hooks."""
    import boto3

    if not _session:
        _session.append(boto3.session.Session())
    session: Any = _session[0]
    keys = {} if narrowed is None else {
        "aws_access_key_id": narrowed.access_key, "aws_secret_access_key": narrowed.secret_key,
        "aws_session_token": narrowed.token}
    found = session.client(service, region_name=region, endpoint_url=endpoint, config=config(),
                           **keys)
    watch_access(found)
    for unique_id, (event, handler) in _hooks.items():
        found.meta.events.register_first(event, handler, unique_id=unique_id)
    return found


def watch_access(made: Any) -> None:
    """Hold every call of ``made`` (a botocore client) to the running route's declarations."""
    made.meta.events.register("before-call", before_call, unique_id="opsfn-access-check")


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


@snapstart.on_restore  # a restored environment makes its own clients, with its own credentials
def reset() -> None:
    """Forget every cached client and scoped session (tests switch endpoints and credentials)."""
    from opsfn.services import scoped

    scoped.reset()
    with _lock:
        _clients.clear()
        _expiry.clear()
        _session.clear()
