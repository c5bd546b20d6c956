"""Settings: environment variables declared in sections, each field parsed when it is read.

A section is a plain class whose attributes are ``name: type = env_field(VARIABLE, ...)``; each
domain declares its own (``opsfn.routes.<domain>.settings``). ``Section.current()`` is the
section read from the environment, cached until one of its variables changes, and a field is
parsed and checked the first time a route reads it: an invalid ``SYNC_CONCURRENCY`` fails the
routes that read it with :class:`InvalidSetting` naming the variable, and no other route.

Parsing needs no pydantic (it costs more to import than a light route's whole cold start): the
types in use are few (``str``, ``int``, ``float``, ``bool``, ``Literal[...]``, each optionally
``| None``). The README's configuration table is generated from the registered sections.
"""

from __future__ import annotations

import functools
import os
import typing
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar, Literal, Self, TypeVar, overload

from opsfn.core import snapstart
from opsfn.core.environ import EnvWatch
from opsfn.errors import InvalidSetting, MissingSetting
from opsfn.lazy import load

__all__ = [
    "CoreSettings",
    "EnvField",
    "MiB",
    "SettingsSection",
    "all_sections",
    "core_settings",
    "env_field",
    "register_section",
    "setting_fields",
    "setting_variables",
]

MiB = 1024 * 1024
_TRUE = frozenset({"1", "true", "yes", "on", "t", "y"})
_FALSE = frozenset({"0", "false", "no", "off", "f", "n"})


class EnvField:
    """One environment variable: its name, meaning, default and limits.

    A non-data descriptor: the first read on a section parses the raw value and stores the result
    in the instance, so later reads are plain attribute lookups.
    """

    __slots__ = ("annotation", "default", "description", "env", "ge", "gt", "le", "lt",
                 "max_length", "min_length", "name")

    def __init__(self, env: str, description: str, default: Any = None, *,
                 ge: float | None = None, gt: float | None = None, le: float | None = None,
                 lt: float | None = None, min_length: int | None = None,
                 max_length: int | None = None) -> None:
        self.env = env
        self.description = description
        self.default = default
        self.ge, self.gt, self.le, self.lt = ge, gt, le, lt
        self.min_length, self.max_length = min_length, max_length
        self.name = ""
        self.annotation: Any = None

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, instance: SettingsSection | None, owner: type | None = None) -> Any:
        if instance is None:
            return self
        if self.annotation is None:
            type(instance).fields()  # resolves every field's annotation once per class
        raw = instance._raw.get(self.env)
        if raw is None:
            value = self.default
        else:
            try:
                value = parse(self, self.annotation, raw)
            except (ValueError, TypeError):
                raise InvalidSetting([self.env]) from None
        instance.__dict__[self.name] = value
        return value


def env_field(env: str, description: str, default: Any = None, **limits: Any) -> Any:
    """A settings field read from ``env``; ``description`` feeds the README table."""
    return EnvField(env, description, default, **limits)


def _scalar(kind: Any, raw: str) -> Any:
    if kind is str:
        return raw
    if kind is bool:
        lowered = raw.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ValueError("not a boolean")
    if kind is int:
        return int(raw.strip())
    if kind is float:
        return float(raw.strip())
    if typing.get_origin(kind) is typing.Literal:
        if raw in typing.get_args(kind):
            return raw
        raise ValueError("not one of the allowed values")
    raise TypeError(f"unsupported settings type {kind!r}")


def _check_limits(field: EnvField, value: Any) -> None:
    if isinstance(value, str):
        if field.min_length is not None and len(value) < field.min_length:
            raise ValueError("too short")
        if field.max_length is not None and len(value) > field.max_length:
            raise ValueError("too long")
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        return
    if ((field.ge is not None and value < field.ge) or (field.gt is not None and value <= field.gt)
            or (field.le is not None and value > field.le)
            or (field.lt is not None and value >= field.lt)):
        raise ValueError("out of range")


def parse(field: EnvField, annotation: Any, raw: str) -> Any:
    """``raw`` as the annotated type, within the field's limits; ValueError otherwise."""
    kinds = [k for k in typing.get_args(annotation) if k is not type(None)] \
        if typing.get_origin(annotation) in (typing.Union, type(int | None)) else [annotation]
    value = _scalar(kinds[0], raw)
    _check_limits(field, value)
    return value


class _Cache:
    """A section read from the environment, read again only when one of its variables changes."""

    __slots__ = ("section", "snapshot", "value", "watch")

    def __init__(self, section: type[SettingsSection]) -> None:
        self.section = section
        self.watch = EnvWatch(field.env for field in section.fields().values())
        self.snapshot: tuple[Any, ...] | None = None
        self.value: Any = None

    def get(self) -> Any:
        snapshot = self.watch.snapshot()
        if snapshot != self.snapshot:
            self.value = self.section.load(os.environ)
            self.snapshot = snapshot
        return self.value


class SettingsSection:
    """Base of the settings sections; subclasses declare ``name: type = env_field(...)``."""

    _raw: dict[str, str | None]
    _caches: ClassVar[dict[type, _Cache]] = {}

    @classmethod
    def fields(cls) -> dict[str, EnvField]:
        """Every field of the class and its bases, by attribute name (annotations resolved)."""
        found = _FIELDS.get(cls)
        if found is None:
            found = _FIELDS[cls] = _collect(cls)
        return found

    @classmethod
    def load(cls, environ: Mapping[str, str | None]) -> Self:
        """A section over ``environ``; nothing is parsed until a field is read."""
        instance = cls.__new__(cls)
        instance.__dict__["_raw"] = {field.env: environ.get(field.env)
                                     for field in cls.fields().values()}
        return instance

    @classmethod
    def current(cls) -> Self:
        """The section as the environment holds it now (cached until a variable changes)."""
        cache = SettingsSection._caches.get(cls)
        if cache is None:
            cache = SettingsSection._caches[cls] = _Cache(cls)
        value: Self = cache.get()
        return value

    def required(self, variable: str) -> str:
        """The value of ``variable``, or :class:`MissingSetting` naming it."""
        for name, field in type(self).fields().items():
            if field.env == variable:
                value = getattr(self, name)
                if value is None or value == "":
                    raise MissingSetting(variable)
                return str(value)
        raise KeyError(f"{variable} is not a setting of {type(self).__name__}")

    def invalid(self) -> list[str]:
        """The variables of this section whose values do not parse (for the CLI's check).

        Checked on the raw values: nothing is cached, and no field counts as read.
        """
        bad = []
        for field in type(self).fields().values():
            raw = self._raw.get(field.env)
            if raw is None:
                continue
            try:
                parse(field, field.annotation, raw)
            except (ValueError, TypeError):
                bad.append(field.env)
        return bad

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("settings are read-only")


_FIELDS: dict[type, dict[str, EnvField]] = {}


def _collect(cls: type) -> dict[str, EnvField]:
    found: dict[str, EnvField] = {}
    for klass in reversed(cls.__mro__):
        if not issubclass(klass, SettingsSection):
            continue
        hints = typing.get_type_hints(klass)
        for name, value in vars(klass).items():
            if isinstance(value, EnvField):
                value.annotation = hints[name]
                found[name] = value
    return found


class CoreSettings(SettingsSection):
    """Framework settings: the AWS endpoint, the action queue, limits, tracing, answers, CORS."""

    @functools.cached_property
    def metrics_disabled(self) -> bool:
        """Whether per-route metrics are off (read on every event: worked out once per load)."""
        return (self.metrics_switch or "").strip().lower() in ("1", "true")

    region: str | None = env_field("AWS_REGION", "AWS region for every client (set by Lambda).")
    endpoint_url: str | None = env_field(
        "AWS_ENDPOINT_URL", "Send every AWS call to this endpoint (moto server, local stack)."
    )
    action_queue: str | None = env_field(
        "OPSFN_ACTION_QUEUE",
        "Name or URL of the SQS queue whose messages are `{\"action\": ...}` work items.",
    )
    failed_events_queue: str | None = env_field(
        "OPSFN_FAILED_EVENTS_QUEUE",
        "SQS queue (name, URL or ARN) that async events and SQS messages failing permanently are "
        "sent to once, instead of being retried (unset: the platform's retries and DLQ).",
    )
    schedule_prefix: str = env_field(
        "OPSFN_SCHEDULE_PREFIX", "Prefix stripped from rule/schedule names before lookup.", ""
    )
    max_body_bytes: int = env_field(
        "OPSFN_MAX_BODY_BYTES", "Largest HTTP request body accepted (bytes).", 1 * MiB, gt=0
    )
    tracing: bool = env_field("OPSFN_TRACING", "Enable the Powertools X-Ray tracer.", False)
    metrics_switch: str | None = env_field(
        "POWERTOOLS_METRICS_DISABLED",
        "`true` or `1`: no per-route EMF metrics (Powertools' own switch, read as Powertools does).",
    )
    custom_resource_margin_ms: int = env_field(
        "OPSFN_CR_MARGIN_MS",
        "Answer a custom resource FAILED this long before the Lambda deadline (ms).",
        5000,
        ge=500,
    )
    cors_origin: str | None = env_field(
        "OPSFN_CORS_ORIGIN",
        "Origins allowed by CORS: `*`, one origin, or a comma-separated list (the request's Origin "
        "is echoed when listed). Sent as Access-Control-Allow-Origin on every HTTP reply and "
        "preflights are answered by the function (unset: no CORS headers).",
    )
    cors_max_age: int = env_field(
        "OPSFN_CORS_MAX_AGE", "Access-Control-Max-Age of preflight answers (seconds).", 600,
        ge=0, le=86400,
    )
    aws_max_attempts: int = env_field(
        "OPSFN_AWS_MAX_ATTEMPTS", "Attempts of each AWS call (botocore's standard retry mode).", 5,
        ge=1, le=20,
    )
    aws_connect_timeout: float = env_field(
        "OPSFN_AWS_CONNECT_TIMEOUT", "Seconds to connect to an AWS endpoint.", 5.0, gt=0,
    )
    aws_read_timeout: float = env_field(
        "OPSFN_AWS_READ_TIMEOUT", "Seconds to wait for an AWS answer.", 30.0, gt=0,
    )
    routes: str | None = env_field(
        "OPSFN_ROUTES",
        "The routes this function serves when a deployment splits them over functions: domains, "
        "route keys or functions, comma-separated; `-` leaves one out (unset: every route).",
    )
    access_check: Literal["log", "deny", "off"] = env_field(
        "OPSFN_ACCESS_CHECK",
        "An AWS call a route's `access=` does not declare: `log` it once per route and action "
        "with the metric UndeclaredAwsCalls, `deny` it (UndeclaredAccess), or `off`.", "log",
    )
    routes_role_arn: str | None = env_field(
        "OPSFN_ROUTES_ROLE_ARN",
        "The role holding the routes' grants: a route's AWS calls use a session of it narrowed to "
        "the route's `access=` declarations (unset: the function's own credentials).",
    )
    scoped_credentials: Literal["on", "off"] = env_field(
        "OPSFN_SCOPED_CREDENTIALS",
        "`on`: each route's session of the routes role carries its declarations as the session "
        "policy; `off`: every route shares one session of the routes role, unnarrowed.", "on",
    )
    session_policies: str | None = env_field(
        "OPSFN_SESSION_POLICIES",
        "Managed policies for routes whose declarations exceed an inline session policy: "
        "`domain=policy` (a name in the routes role's account, or an ARN), comma-separated (the "
        "generated template sets it).",
    )
    kms_key_arn: str | None = env_field(
        "OPSFN_KMS_KEY_ARN",
        "The customer-managed KMS key of the deployment's buckets, tables and queues: every "
        "route's scoped session may encrypt and decrypt with it (unset: AWS-managed keys).",
    )
    default_auth: Literal["iam", "jwt"] | None = env_field(
        "OPSFN_DEFAULT_AUTH",
        "The deployment's default authorizer (`iam` or `jwt`, the HTTP API's DefaultAuthorizer): "
        "what routes declared `auth=\"default\"` require of a caller (unset: any authenticated caller).",
    )
    empty_event_action: str | None = env_field(
        "OPSFN_EMPTY_EVENT_ACTION",
        "The registered action an empty direct invoke (`{}`) runs, e.g. `start_database` for a "
        "caller that sends no action (unset: `{}` is refused as an unsupported event; a name "
        "that is no registered action is an invalid setting).",
    )
    app: str | None = env_field(
        "OPSFN_APP",
        "The application the function serves: `module:attribute` naming an opsfn `App` (unset: the "
        "built-in routes).",
    )


_CORE = _Cache(CoreSettings)


def core_settings() -> CoreSettings:
    """The framework's own section: what dispatch reads on every event (about 1 us)."""
    value: CoreSettings = _CORE.get()
    return value


@snapstart.on_restore
def reset_cached_settings() -> None:
    """Read every section from the environment again on next use (a SnapStart restore)."""
    _CORE.snapshot = None
    SettingsSection._caches.clear()


# -- the registered sections (for docs, the CLI and the template check) ----------------------------
# Sections are registered by whoever declares them (the built-in routes register their domains'
# by reference, an application its own classes): this module names no route module.
_S = TypeVar("_S", bound=SettingsSection)
_REFERENCES: list[str] = []
_REGISTERED: list[type[SettingsSection]] = []


@overload
def register_section(section: str) -> str: ...


@overload
def register_section(section: type[_S]) -> type[_S]: ...


def register_section(section: type[_S] | str) -> type[_S] | str:
    """Show a section (a class, or ``"module:Class"`` loaded when listed) in ``opsfn settings``,
    the docs and the template check."""
    if isinstance(section, str):
        if section not in _REFERENCES:
            _REFERENCES.append(section)
    elif section not in _REGISTERED:
        _REGISTERED.append(section)
    return section


def all_sections() -> list[type[SettingsSection]]:
    """The framework's section, then every registered one (imports the section modules)."""
    return list(dict.fromkeys(_sections_one_by_one()))


def _sections_one_by_one() -> Iterator[type[SettingsSection]]:
    """What :func:`all_sections` lists, each loaded when it is reached."""
    yield CoreSettings
    yield from (load(ref) for ref in _REFERENCES)
    yield from _REGISTERED


def setting_fields() -> dict[str, EnvField]:
    """Every setting's declaration by variable name (defaults, limits, descriptions)."""
    found: dict[str, EnvField] = {}
    for section in all_sections():
        for field in section.fields().values():
            found.setdefault(field.env, field)
    return found


def setting_default(variable: str) -> str | None:
    """A setting's default as its variable would hold it (None: no default, or not a setting).

    Sections are looked through in order and loaded only as far as needed: a running function
    asking for a framework setting's default loads no domain's section.
    """
    field = next((f for section in _sections_one_by_one() for f in section.fields().values()
                  if f.env == variable), None)
    if field is None or field.default is None:
        return None
    default = field.default
    return str(default).lower() if isinstance(default, bool) else str(default)


def setting_variables() -> list[tuple[str, str, str]]:
    """(variable, default, description) for every setting, for docs and the CLI."""
    return [(field.env, "" if field.default is None else str(field.default), field.description)
            for field in setting_fields().values()]


def invalid_settings() -> list[str]:
    """Every variable set to a value that does not parse, across all sections."""
    environ = os.environ
    return sorted({variable for section in all_sections()
                   for variable in section.load(environ).invalid()})
