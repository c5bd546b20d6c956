"""What AWS a route may call: grants declared beside its trigger.

A route lists the IAM actions it calls and the resources it calls them on. Resources are named
through the settings (environment variables) that hold them, never as literal ARNs, so one
declaration serves every deployment: the template generator turns ``table("TABLE_NAME")`` into the
ARN of the table the template passes in ``TABLE_NAME``, and at run time the same reference
resolves from the environment.

    from opsfn.access import allow, objects, table

    @router.post("/thumbnails", auth="iam", access=[
        allow("s3:GetObject", "s3:PutObject", on=objects("IMAGE_BUCKET", "thumbs/")),
        allow("dynamodb:UpdateItem", on=table("JOBS_TABLE")),
    ])

Shared services (the audit table, locks, idempotency markers, the alert topic) declare their
grants once, as module constants, and a route that uses one unpacks that constant among its own
(``access=[*audit.ACCESS, allow(...)]``).
Everything here is plain data: it is written to the route manifest and read without importing
any route module.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "ANY",
    "Access",
    "Grant",
    "Resource",
    "allow",
    "arn",
    "arn_pattern",
    "bucket",
    "flatten",
    "objects",
    "parameter",
    "queue",
    "secret",
    "table",
]

ResourceKind = Literal["any", "arn", "bucket", "table", "queue", "secret", "parameter", "pattern"]

_ACTION = re.compile(r"^[a-z0-9-]+:[A-Za-z0-9*]+$")
_SETTING = re.compile(r"^[A-Z][A-Z0-9_]*$")
PLACEHOLDER = re.compile(r"\{([A-Za-z][A-Za-z0-9_]*)(?:\|([a-z]+))?\}")
"""``{NAME}`` in a pattern: an upper-case name is a setting, ``partition``, ``region`` and
``account`` are the deployment's own. ``{NAME|domain}`` is the part after the ``@`` of an
address a setting holds (an SES identity is an address or its domain)."""
PSEUDO = ("partition", "region", "account")
FILTERS = ("domain",)
_NAME = re.compile(r"^[A-Za-z0-9]{1,128}$")


def placeholders(text: str) -> list[tuple[str, str]]:
    """The ``(name, filter)`` pairs of ``text``'s placeholders (filter ``""`` when none)."""
    return [(name, kind or "") for name, kind in PLACEHOLDER.findall(text)]


def setting_names(text: str) -> list[str]:
    """The settings ``text``'s placeholders name."""
    return [name for name, _ in placeholders(text) if name not in PSEUDO]


@dataclass(frozen=True, slots=True)
class Resource:
    """An AWS resource named through a setting.

    ``kind`` says how the setting's value becomes an ARN (a bucket name, a table name, a queue
    URL, an ARN as it is...); ``suffix`` is appended to that ARN (``/uploads/*`` for objects).
    A ``pattern`` is a whole ARN template with ``{SETTING}`` and ``{region}``-style parts.
    """

    kind: ResourceKind
    setting: str | None = None
    suffix: str = ""

    def settings(self) -> tuple[str, ...]:
        """Every setting this resource is named through."""
        names = [self.setting] if self.setting else []
        names += setting_names(self.suffix)
        return tuple(dict.fromkeys(names))

    def __str__(self) -> str:
        if self.kind == "any":
            return "*"
        if self.kind == "pattern":
            return self.suffix
        return f"{self.kind}({self.setting}){self.suffix}"


ARN_FORMS: dict[str, str] = {
    "bucket": "arn:{partition}:s3:::{name}",
    "table": "arn:{partition}:dynamodb:{region}:{account}:table/{name}",
    "queue": "arn:{partition}:sqs:{region}:{account}:{name}",
    "secret": "arn:{partition}:secretsmanager:{region}:{account}:secret:{name}-??????",
    "parameter": "arn:{partition}:ssm:{region}:{account}:parameter/{name}",
}
"""The ARN of each kind of resource named by the setting holding its name."""

ANY = Resource("any")
"""Every resource: only for actions AWS offers no resource-level permission for."""


def _setting(name: str) -> str:
    if not _SETTING.match(name):
        raise ValueError(f"resources are named by a setting (an environment variable): {name!r}")
    return name


def bucket(setting: str) -> Resource:
    """The bucket whose name (or ``arn:aws:s3:::`` ARN) the setting holds: for ListBucket."""
    return Resource("bucket", _setting(setting))


def objects(setting: str, prefix: str = "") -> Resource:
    """The objects under ``prefix`` in the bucket the setting names (``{SETTING}`` parts allowed
    in the prefix, for a prefix that is itself a setting)."""
    if prefix.startswith("/") or "*" in prefix:
        raise ValueError(f"an object prefix has no leading '/' and no '*': {prefix!r}")
    return Resource("bucket", _setting(setting), f"/{prefix}*")


def table(setting: str) -> Resource:
    """The DynamoDB table whose name the setting holds."""
    return Resource("table", _setting(setting))


def queue(setting: str) -> Resource:
    """The SQS queue whose name, URL or ARN the setting holds."""
    return Resource("queue", _setting(setting))


def secret(setting: str) -> Resource:
    """The Secrets Manager secret whose name the setting holds (a setting holding the secret's
    ARN is an :func:`arn`)."""
    return Resource("secret", _setting(setting))


def parameter(setting: str) -> Resource:
    """The SSM parameter whose name (``/a/b`` or ``b``) the setting holds."""
    return Resource("parameter", _setting(setting))


def arn(setting: str, suffix: str = "") -> Resource:
    """A resource whose ARN the setting holds as it is (a topic, a role, a key)."""
    return Resource("arn", _setting(setting), suffix)


def arn_pattern(pattern: str) -> Resource:
    """A whole ARN template: ``arn:{partition}:ecs:{region}:{account}:service/{ECS_CLUSTER}/*``."""
    if not pattern.startswith("arn:{partition}:"):
        raise ValueError(f"an ARN pattern starts with 'arn:{{partition}}:': {pattern!r}")
    for name, kind in placeholders(pattern):
        if name not in PSEUDO:
            _setting(name)
        if kind and kind not in FILTERS:
            raise ValueError(f"unknown placeholder filter |{kind} in {pattern!r}")
    return Resource("pattern", None, pattern)


Condition = tuple[tuple[str, str, str], ...]
"""IAM condition entries as ``(operator, key, value)``; values may hold ``{SETTING}`` parts."""


@dataclass(frozen=True, slots=True)
class Grant:
    """Some IAM actions on some resources, under an optional condition."""

    actions: tuple[str, ...]
    resources: tuple[Resource, ...]
    condition: Condition = ()
    why: str = ""
    name: str = ""  # the statement's Sid in generated policies
    if_set: tuple[str, ...] = ()  # granted only where one of these settings is set

    def settings(self) -> tuple[str, ...]:
        """Every setting the grant's resources and condition are named through."""
        names: list[str] = list(self.if_set)
        for resource in self.resources:
            names += resource.settings()
        for _, _, value in self.condition:
            names += setting_names(value)
        return tuple(dict.fromkeys(names))


Access = tuple[Grant, ...]


def allow(*actions: str, on: Resource | Iterable[Resource] = (),
          when: Mapping[str, Mapping[str, str]] | None = None, why: str = "", name: str = "",
          if_set: str | Iterable[str] = ()) -> Grant:
    """Allow ``actions`` (``service:Operation`` as IAM spells them) on ``on``.

    ``on`` is required unless the actions have no resource-level permission, which ``ANY``
    says explicitly, with ``why`` saying so. ``when`` is an IAM condition block
    (``{"StringEquals": {"iam:PassedToService": "export.rds.amazonaws.com"}}``). ``name`` is the
    statement's Sid where policies are generated. ``if_set`` names settings of which one must be
    set for the grant to exist at all (a feature that is off needs no permission, even one on
    ``ANY``); a grant whose resources are named by settings already follows them.
    """
    if not actions:
        raise ValueError("allow() needs at least one action")
    for action in actions:
        if not _ACTION.match(action):
            raise ValueError(f"an action is 'service:Operation' as IAM spells it: {action!r}")
    resources = (on,) if isinstance(on, Resource) else tuple(on)
    if not resources:
        raise ValueError(f"allow({', '.join(actions)}) names no resource: pass on=..., or "
                         "on=ANY for actions without resource-level permissions")
    if ANY in resources and not why:
        raise ValueError(f"allow({', '.join(actions)}, on=ANY) needs why=: say why no narrower "
                         "resource can be named")
    condition = tuple((op, key, value) for op, entries in (when or {}).items()
                      for key, value in entries.items())
    if name and not _NAME.match(name):
        raise ValueError(f"a statement name (Sid) is letters and digits: {name!r}")
    required = (if_set,) if isinstance(if_set, str) else tuple(if_set)
    return Grant(tuple(actions), resources, condition, why, name,
                 tuple(_setting(s) for s in required))


def flatten(access: Iterable[Grant] | None) -> Access:
    """The grants as one tuple, each once, in the order first declared."""
    grants: list[Grant] = []
    for grant in access or ():
        if not isinstance(grant, Grant):
            raise TypeError(f"access= takes allow(...) grants (a service's group unpacked, as in "
                            f"*audit.ACCESS): {grant!r}")
        if grant not in grants:
            grants.append(grant)
    return tuple(grants)


def actions_of(access: Access) -> frozenset[str]:
    """Every action the grants allow (wildcards as written)."""
    return frozenset(action for grant in access for action in grant.actions)


# -- as data: the manifest stores declarations as JSON ----------------------------------------

def to_json(access: Access) -> list[dict[str, Any]]:
    """Grants as JSON data, in declaration order."""
    out: list[dict[str, Any]] = []
    for grant in access:
        entry: dict[str, Any] = {"actions": list(grant.actions), "resources": [
            {"kind": r.kind, **({"setting": r.setting} if r.setting else {}),
             **({"suffix": r.suffix} if r.suffix else {})} for r in grant.resources]}
        if grant.condition:
            entry["condition"] = [list(c) for c in grant.condition]
        if grant.why:
            entry["why"] = grant.why
        if grant.name:
            entry["name"] = grant.name
        if grant.if_set:
            entry["if_set"] = list(grant.if_set)
        out.append(entry)
    return out


def from_json(data: list[dict[str, Any]]) -> Access:
    """The inverse of :func:`to_json`."""
    return tuple(Grant(
        tuple(entry["actions"]),
        tuple(Resource(r["kind"], r.get("setting"), r.get("suffix", "")) for r in entry["resources"]),
        tuple((op, key, value) for op, key, value in entry.get("condition", ())),
        entry.get("why", ""),
        entry.get("name", ""),
        tuple(entry.get("if_set", ())),
    ) for entry in data)
