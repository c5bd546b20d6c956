"""The template's function as the Lambda API describes it: name, ARN and configuration.

Its name is the template's ``FunctionName`` when it sets one, else the logical id (as ``sam
local`` names it), so ``--function-name OpsFunction`` works against ``opsfn local``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from opsfn.tooling.local.template_eval import ACCOUNT, Evaluator

# NamespacedFunctionName of the Lambda API model: a name, a full or partial ARN, a qualifier.
_NAME = re.compile(
    r"^(?:arn:aws[a-zA-Z-]*:lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):function:"
    r"|(?P<partial_account>\d{12}):function:)?(?P<name>[A-Za-z0-9_.-]+)"
    r"(?::(?P<qualifier>\$LATEST|[A-Za-z0-9_-]+))?$")
LATEST = "$LATEST"
# Events one Lambda Managed Instances environment takes at once when the template leaves
# PerExecutionEnvironmentMaxConcurrency out (locally: enough to show events side by side).
MANAGED_DEFAULT_CONCURRENCY = 4


@dataclass(frozen=True, slots=True)
class FunctionInfo:
    """What GetFunction and ListFunctions say about the local function."""

    name: str
    region: str
    runtime: str = "python3.13"
    handler: str = "opsfn.handler.lambda_handler"
    memory_mb: int = 1024
    timeout_s: int = 900
    description: str = ""
    architectures: tuple[str, ...] = ("arm64",)
    environment: dict[str, str] = field(default_factory=dict)
    last_modified: str = "1970-01-01T00:00:00.000+0000"
    log_format: str = "Text"  # LoggingConfig, as the runtime's variables carry it
    application_log_level: str | None = None
    system_log_level: str | None = None
    log_group: str | None = None
    snap_start: bool = False  # SnapStart.ApplyOn PublishedVersions: a snapshot's init phase
    reserved_concurrency: int | None = None  # the most environments at once
    max_concurrency: int | None = None  # Lambda Managed Instances: events per environment

    @property
    def arn(self) -> str:
        """The function's ARN."""
        return f"arn:aws:lambda:{self.region}:{ACCOUNT}:function:{self.name}"

    def matches(self, value: str, qualifier: str | None = None) -> bool:
        """Whether ``value`` (a name, a full or partial ARN, maybe qualified) names this
        function's only version, ``$LATEST``."""
        match = _NAME.match(value)
        if match is None or match.group("name") != self.name:
            return False
        if match.group("region") not in (None, self.region):
            return False
        if (match.group("account") or match.group("partial_account") or ACCOUNT) != ACCOUNT:
            return False
        qualifiers = {q for q in (match.group("qualifier"), qualifier) if q}
        return qualifiers <= {LATEST}

    def unknown_arn(self, value: str, qualifier: str | None = None) -> str:
        """The ARN Lambda names in its ResourceNotFoundException for ``value``."""
        match = _NAME.match(value)
        name = match.group("name") if match else value
        region = (match.group("region") if match else None) or self.region
        account = (match.group("account") or match.group("partial_account") if match else None) \
            or ACCOUNT
        suffix = (match.group("qualifier") if match else None) or qualifier
        arn = f"arn:aws:lambda:{region}:{account}:function:{name}"
        return f"{arn}:{suffix}" if suffix else arn

    def configuration(self, role: str) -> dict[str, Any]:
        """The ``FunctionConfiguration`` shape."""
        digest = hashlib.sha256(f"{self.name}{self.handler}".encode()).hexdigest()
        return {
            "FunctionName": self.name, "FunctionArn": self.arn, "Runtime": self.runtime,
            "Role": role, "Handler": self.handler, "CodeSize": 0,
            "Description": self.description, "Timeout": self.timeout_s,
            "MemorySize": self.memory_mb, "LastModified": self.last_modified,
            "CodeSha256": "", "Version": LATEST,
            "Environment": {"Variables": dict(self.environment)},
            "TracingConfig": {"Mode": "PassThrough"},
            "RevisionId": f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-"
                          f"{digest[20:32]}",
            "State": "Active", "LastUpdateStatus": "Successful", "PackageType": "Zip",
            "Architectures": list(self.architectures), "EphemeralStorage": {"Size": 512},
            "LoggingConfig": self.logging_config(),
        }

    def logging_config(self) -> dict[str, str]:
        """``LoggingConfig`` as GetFunctionConfiguration returns it."""
        config = {"LogFormat": self.log_format,
                  "LogGroup": self.log_group or f"/aws/lambda/{self.name}"}
        if self.log_format == "JSON":
            config["ApplicationLogLevel"] = self.application_log_level or "INFO"
            config["SystemLogLevel"] = self.system_log_level or "INFO"
        return config


def _number(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def function_info(template: dict[str, Any], logical_id: str, evaluator: Evaluator,
                  environment: dict[str, str], last_modified: str) -> FunctionInfo:
    """The local function as the template declares it (Globals.Function, then its own)."""
    resource = template["Resources"][logical_id]
    globals_ = ((template.get("Globals") or {}).get("Function") or {})
    props = {**globals_, **(resource.get("Properties") or {})}
    name = evaluator.value(props.get("FunctionName"))
    architectures = evaluator.value(props.get("Architectures")) or ["x86_64"]
    logging = evaluator.value(props.get("LoggingConfig"))
    logging = logging if isinstance(logging, dict) else {}
    snap_start = evaluator.value(props.get("SnapStart"))
    reserved = evaluator.value(props.get("ReservedConcurrentExecutions"))
    capacity = evaluator.value(props.get("CapacityProviderConfig"))
    managed = capacity.get("LambdaManagedInstancesCapacityProviderConfig") \
        if isinstance(capacity, dict) else None
    return FunctionInfo(
        name=name if isinstance(name, str) and name else logical_id,
        region=evaluator.region,
        runtime=str(evaluator.value(props.get("Runtime")) or "python3.13"),
        handler=str(evaluator.value(props.get("Handler")) or "opsfn.handler.lambda_handler"),
        memory_mb=_number(evaluator.value(props.get("MemorySize")), 128),
        timeout_s=_number(evaluator.value(props.get("Timeout")), 3),
        description=str(evaluator.value(props.get("Description")) or ""),
        architectures=tuple(str(a) for a in architectures),
        environment=dict(environment), last_modified=last_modified,
        log_format="JSON" if str(logging.get("LogFormat", "")).upper() == "JSON" else "Text",
        application_log_level=_text(logging.get("ApplicationLogLevel")),
        system_log_level=_text(logging.get("SystemLogLevel")),
        log_group=_text(logging.get("LogGroup")),
        snap_start=isinstance(snap_start, dict) and
        snap_start.get("ApplyOn") == "PublishedVersions",
        reserved_concurrency=_number(reserved, 0) or None,
        max_concurrency=(_number(managed.get("PerExecutionEnvironmentMaxConcurrency"),
                                 MANAGED_DEFAULT_CONCURRENCY)
                         if isinstance(managed, dict) else None))
