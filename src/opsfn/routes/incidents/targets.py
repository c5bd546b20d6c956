"""Incident targets from configuration: the JSON setting, or an SSM parameter holding the same JSON.

Nothing is guessed: an unknown target name is a validation error listing the configured ones (the
original mapped it to a "default-service", which restarted something nobody asked for).
"""

from __future__ import annotations

import json
from functools import cache
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from opsfn.errors import InvalidSetting, MissingSetting, OpsfnError, ValidationFailed
from opsfn.routes.incidents.models import Priority
from opsfn.routes.incidents.settings import IncidentSettings
from opsfn.services import aws

# Schemas are built on first validation, not at import: most invocations never load targets.
_STRICT = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)


def _steps() -> dict[Priority, int]:
    return {"low": 1, "medium": 1, "high": 1, "critical": 2}


def _desired() -> dict[Priority, int]:
    return {"low": 2, "medium": 3, "high": 5, "critical": 10}


class EcsTarget(BaseModel):
    """An ECS service: restart by a forced deployment, scale by desired count."""

    model_config = _STRICT
    kind: Literal["ecs"]
    cluster: str
    service: str
    max_count: int = Field(default=10, alias="maxCount", ge=1)
    desired_by_priority: dict[Priority, int] = Field(
        default_factory=_desired, alias="desiredByPriority",
    )


class Ec2Target(BaseModel):
    """EC2 instances: restart by a reboot."""

    model_config = _STRICT
    kind: Literal["ec2"]
    instance_ids: list[str] = Field(alias="instanceIds", min_length=1)


class _Ladder(BaseModel):
    """A ladder of sizes, smallest first, climbed ``steps[priority]`` rungs at a time."""

    model_config = _STRICT

    ladder: list[str] = Field(default_factory=list)
    steps: dict[Priority, int] = Field(default_factory=_steps)

    @model_validator(mode="after")
    def _unique_ladder(self) -> _Ladder:
        if len(set(self.ladder)) != len(self.ladder):
            raise ValueError("ladder entries must be unique")
        return self


class RdsInstanceTarget(_Ladder):
    """An RDS instance: scale by instance class up the ladder."""

    model_config = _STRICT
    kind: Literal["rds_instance"]
    instance_id: str = Field(alias="instanceId")


class RdsClusterTarget(_Ladder):
    """An Aurora cluster: scale its writer instance up the ladder."""

    model_config = _STRICT
    kind: Literal["rds_cluster"]
    cluster_id: str = Field(alias="clusterId")


class RedisEndpoint(BaseModel):
    """How to reach Redis: TLS by default, password from Secrets Manager."""

    model_config = _STRICT
    host: str
    port: int = Field(default=6379, ge=1, le=65535)
    tls: bool = True
    ca_file: str | None = Field(default=None, alias="caFile")
    db: int | None = Field(default=None, ge=0, le=15)
    secret_arn: str | None = Field(default=None, alias="secretArn")
    timeout_s: float = Field(default=5.0, alias="timeoutSeconds", gt=0, le=60)


class RedisTarget(BaseModel):
    """A Redis endpoint: clear_cache flushes it."""

    model_config = _STRICT
    kind: Literal["redis"]
    redis: RedisEndpoint


class ElastiCacheTarget(_Ladder):
    """An ElastiCache replication group: scale by node type or replicas; clear by flush or reboot."""

    model_config = _STRICT
    kind: Literal["elasticache"]
    replication_group_id: str = Field(alias="replicationGroupId")
    scale_by: Literal["node_type", "replicas"] = Field(default="node_type", alias="scaleBy")
    max_replicas: int = Field(default=5, alias="maxReplicas", ge=1, le=5)
    clear_strategy: Literal["flush", "reboot"] = Field(default="flush", alias="clearStrategy")
    redis: RedisEndpoint | None = None

    @model_validator(mode="after")
    def _flush_needs_endpoint(self) -> ElastiCacheTarget:
        if self.clear_strategy == "flush" and self.redis is None:
            raise ValueError("clearStrategy flush needs a redis endpoint")
        if self.scale_by == "node_type" and not self.ladder:
            raise ValueError("scaleBy node_type needs a ladder")
        return self


Target = Annotated[
    EcsTarget | Ec2Target | RdsInstanceTarget | RdsClusterTarget | ElastiCacheTarget | RedisTarget,
    Field(discriminator="kind"),
]


@cache
def targets_adapter() -> TypeAdapter[dict[str, Target]]:
    """The validator of a targets document, built on first use (building it costs ~10 ms)."""
    return TypeAdapter(dict[str, Target])


def parse_targets(text: str, variable: str) -> dict[str, Any]:
    """Targets from JSON text; a bad document is an invalid setting (never a guess)."""
    try:
        raw = json.loads(text)
        targets = targets_adapter().validate_python(raw)
    except (ValueError, ValidationError):
        raise InvalidSetting([variable]) from None
    if not targets:
        raise InvalidSetting([variable])
    return targets


def load_targets() -> dict[str, Any]:
    """The configured targets: INCIDENT_TARGETS, else the SSM parameter INCIDENT_TARGETS_PARAMETER.

    Read on every call (one GetParameter) so a changed parameter applies without a redeploy.
    """
    settings = IncidentSettings.current()
    if settings.incident_targets:
        return parse_targets(settings.incident_targets, "INCIDENT_TARGETS")
    name = settings.incident_targets_parameter
    if not name:
        raise MissingSetting("INCIDENT_TARGETS")
    reply = aws.client("ssm").get_parameter(Name=name, WithDecryption=True)
    return parse_targets(str(reply["Parameter"]["Value"]), "INCIDENT_TARGETS_PARAMETER")


def resolve(name: str, targets: dict[str, Any] | None = None) -> Any:
    """The target called ``name``, or ValidationFailed naming the valid ones."""
    targets = load_targets() if targets is None else targets
    found = targets.get(name)
    if found is None:
        valid = ", ".join(sorted(targets))
        raise ValidationFailed(
            f"unknown target; valid targets: {valid}",
            details=[{"loc": "payload.target", "msg": f"must be one of: {valid}",
                      "type": "unknown_target"}],
        )
    return found


def unsupported(action: str, name: str, target: Any) -> ValidationFailed:
    """The error for an action the target's kind cannot do."""
    return ValidationFailed(
        f"{action} is not supported for target {name} (kind {target.kind})",
        details=[{"loc": "payload.target", "msg": f"{action} does not apply to kind {target.kind}",
                  "type": "unsupported_target"}],
    )


def required(action: str) -> ValidationFailed:
    """The error for an action that needs a target and got none: it lists the valid names."""
    try:
        valid = f"must be one of: {', '.join(sorted(load_targets()))}"
    except OpsfnError as exc:
        valid = f"the configured targets could not be read ({exc.code})"
    return ValidationFailed(
        f"{action} needs a target; {valid}",
        details=[{"loc": "payload.target", "msg": f"required for {action}; {valid}",
                  "type": "missing_target"}],
    )
