"""Routers: decorators that declare which source reaches which function.

A :class:`Router` only collects :class:`Route` declarations; the :class:`opsfn.core.app.App` that
includes it indexes them for O(1) lookup. A route is reachable only from the sources it declares:
an action from a direct invoke (and from the action queue when it opts in), an S3 route from S3
events in any wrapping, and so on.

Every decorator also takes ``access=``: the AWS actions the route calls and the resources it calls
them on (:mod:`opsfn.access`). The IAM statements of a deployment are made from these
declarations, and a call a route did not declare is refused in tests and reported in Lambda.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from opsfn.core.access import Access, Grant, flatten
from opsfn.events.kinds import Source

if TYPE_CHECKING:
    from opsfn.core.binding import Binder

F = TypeVar("F", bound=Callable[..., Any])

HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")

Auth = Literal["public", "iam", "jwt", "default"]
AUTH_MODES: tuple[Auth, ...] = ("public", "iam", "jwt", "default")
"""Who may call an HTTP route: anyone; a caller signed with IAM (SigV4); a caller with a JWT the
API's JWT authorizer accepted; or whatever the deployment's default authorizer is (the HTTP API's
``DefaultAuthorizer``, which ``OPSFN_DEFAULT_AUTH`` names for the in-function check)."""


@dataclass(frozen=True, slots=True)
class Setting:
    """A name (bucket, queue, topic) taken from an environment variable when it is needed."""

    variable: str

    def resolve(self) -> str | None:
        """The variable's value, or None when unset or empty."""
        return os.environ.get(self.variable) or None

    def __str__(self) -> str:
        return f"${{{self.variable}}}"


def setting(variable: str) -> Setting:
    """Refer to a resource name by the environment variable that holds it."""
    return Setting(variable)


NameSpec = str | Setting
AccessArg = Iterable[Grant] | None
"""What ``access=`` takes: ``allow(...)`` grants (a service's group unpacked: ``*audit.ACCESS``)."""


@dataclass(frozen=True, slots=True)
class HttpSpec:
    """An HTTP route: one method, a path template with ``{name}`` or ``{name+}`` parts, and who
    may call it."""

    method: str
    path: str
    auth: Auth = "default"


@dataclass(frozen=True, slots=True)
class ActionSpec:
    """A direct-invoke action; ``queue`` lets the action queue reach it too."""

    name: str
    queue: bool = False
    description: str | None = None


@dataclass(frozen=True, slots=True)
class S3Spec:
    """Objects in ``bucket`` whose key has ``prefix`` and ``suffix``, for the listed events."""

    bucket: NameSpec
    prefix: str = ""
    suffix: str = ""
    events: tuple[str, ...] = ("ObjectCreated:*",)


@dataclass(frozen=True, slots=True)
class ScheduleSpec:
    """A named schedule; ``expression`` (``rate(...)``/``cron(...)``) feeds the template."""

    name: str
    expression: str | None = None


@dataclass(frozen=True, slots=True)
class EventBridgeSpec:
    """An EventBridge rule target for ``source`` and, if given, one ``detail_type``."""

    source: str
    detail_type: str | None = None


@dataclass(frozen=True, slots=True)
class CustomResourceSpec:
    """A CloudFormation custom resource type such as ``Custom::SslMaterials``."""

    resource_type: str


@dataclass(frozen=True, slots=True)
class SqsSpec:
    """A work queue whose message bodies go to this route."""

    queue: NameSpec


@dataclass(frozen=True, slots=True)
class SnsSpec:
    """A topic whose messages go to this route."""

    topic: NameSpec


@dataclass(frozen=True, slots=True)
class SesSpec:
    """Mail handed over by an SES receipt rule's Lambda action (the event names no rule, so
    every SES route sees every received message)."""


Spec = (
    HttpSpec | ActionSpec | S3Spec | ScheduleSpec | EventBridgeSpec | CustomResourceSpec
    | SqsSpec | SnsSpec | SesSpec
)


@dataclass(eq=False, slots=True)
class Route:
    """One declaration: the source, what it listens to, and the function to call."""

    source: Source
    spec: Spec
    func: Callable[..., Any]
    binder: Binder | None = field(default=None, repr=False)  # built on first call
    access: Access = ()  # the AWS calls it makes (opsfn.access), for IAM and the access check
    label: str = field(default="", init=False)

    def __post_init__(self) -> None:
        self.label = _label(self.spec)

    @property
    def handler_name(self) -> str:
        """``module.function``, for tables and logs."""
        return f"{self.func.__module__}.{self.func.__qualname__}"


def _label(spec: Spec) -> str:
    """A short human label of what a route listens to (used in logs and metrics)."""
    if isinstance(spec, HttpSpec):
        return f"{spec.method} {spec.path}"
    if isinstance(spec, ActionSpec):
        return f"action:{spec.name}"
    if isinstance(spec, S3Spec):
        return f"s3:{spec.bucket}/{spec.prefix}*{spec.suffix}"
    if isinstance(spec, ScheduleSpec):
        return f"schedule:{spec.name}"
    if isinstance(spec, EventBridgeSpec):
        return f"eventbridge:{spec.source}/{spec.detail_type or '*'}"
    if isinstance(spec, CustomResourceSpec):
        return spec.resource_type
    if isinstance(spec, SqsSpec):
        return f"sqs:{spec.queue}"
    if isinstance(spec, SesSpec):
        return "ses:receipt"
    return f"sns:{spec.topic}"


class Router:
    """Collects routes of one domain; include it in an :class:`opsfn.core.app.App`.

    ``auth`` is the default of this router's HTTP routes. An HTTP route that declares no ``auth``
    on a router without one is refused when it is declared: nothing is public by omission.
    """

    def __init__(self, *, auth: Auth | None = None) -> None:
        if auth is not None and auth not in AUTH_MODES:
            raise ValueError(f"auth must be one of {', '.join(AUTH_MODES)}: {auth!r}")
        self.auth = auth
        self.routes: list[Route] = []

    def _add(self, route: Route) -> None:
        self.routes.append(route)

    def _register(self, source: Source, spec: Spec, access: AccessArg) -> Callable[[F], F]:
        grants = flatten(access)

        def decorator(func: F) -> F:
            self._add(Route(source, spec, func, access=grants))
            return func

        return decorator

    # -- HTTP ---------------------------------------------------------------------------------
    def _auth_for(self, path: str, auth: Auth | None) -> Auth:
        chosen = auth if auth is not None else self.auth
        if chosen is None:
            raise ValueError(
                f"HTTP route {path} declares no auth and its router has no default: pass "
                "auth='public', 'iam', 'jwt' or 'default' (the deployment's default authorizer) "
                "to the decorator, or Router(auth=...)"
            )
        if chosen not in AUTH_MODES:
            raise ValueError(f"auth must be one of {', '.join(AUTH_MODES)}: {chosen!r}")
        return chosen

    def route(self, path: str, methods: tuple[str, ...] | list[str], *, auth: Auth | None = None,
              access: AccessArg = None) -> Callable[[F], F]:
        """Serve ``path`` for each of ``methods``, to the callers ``auth`` admits."""
        if not path.startswith("/"):
            raise ValueError(f"HTTP path must start with '/': {path!r}")
        chosen = self._auth_for(path, auth)
        grants = flatten(access)

        def decorator(func: F) -> F:
            for method in methods:
                upper = method.upper()
                if upper not in HTTP_METHODS:
                    raise ValueError(f"unknown HTTP method {method!r}")
                self._add(Route("http", HttpSpec(upper, path, chosen), func, access=grants))
            return func

        return decorator

    def get(self, path: str, *, auth: Auth | None = None, access: AccessArg = None
            ) -> Callable[[F], F]:
        """Serve GET ``path``."""
        return self.route(path, ("GET",), auth=auth, access=access)

    def post(self, path: str, *, auth: Auth | None = None, access: AccessArg = None
            ) -> Callable[[F], F]:
        """Serve POST ``path``."""
        return self.route(path, ("POST",), auth=auth, access=access)

    def put(self, path: str, *, auth: Auth | None = None, access: AccessArg = None
            ) -> Callable[[F], F]:
        """Serve PUT ``path``."""
        return self.route(path, ("PUT",), auth=auth, access=access)

    def patch(self, path: str, *, auth: Auth | None = None, access: AccessArg = None
            ) -> Callable[[F], F]:
        """Serve PATCH ``path``."""
        return self.route(path, ("PATCH",), auth=auth, access=access)

    def delete(self, path: str, *, auth: Auth | None = None, access: AccessArg = None
            ) -> Callable[[F], F]:
        """Serve DELETE ``path``."""
        return self.route(path, ("DELETE",), auth=auth, access=access)

    # -- everything else ------------------------------------------------------------------------
    def action(self, name: str, *, queue: bool = False, description: str | None = None,
               access: AccessArg = None) -> Callable[[F], F]:
        """A direct-invoke action ``{"action": name, ...}``; ``queue=True`` also via the action queue."""
        if not name or not name.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"action names are letters, digits, '_' and '-': {name!r}")
        return self._register("action", ActionSpec(name, queue, description), access)

    def s3(self, *, bucket: NameSpec, prefix: str = "", suffix: str = "",
           events: tuple[str, ...] = ("ObjectCreated:*",), access: AccessArg = None
           ) -> Callable[[F], F]:
        """Object events of ``bucket`` (direct, via EventBridge, SQS, SNS or SNS inside SQS)."""
        return self._register("s3", S3Spec(bucket, prefix, suffix, tuple(events)), access)

    def schedule(self, name: str, *, expression: str | None = None, access: AccessArg = None
                 ) -> Callable[[F], F]:
        """An EventBridge rule or Scheduler schedule named ``name``."""
        return self._register("schedule", ScheduleSpec(name, expression), access)

    def eventbridge(self, *, source: str, detail_type: str | None = None,
                    access: AccessArg = None) -> Callable[[F], F]:
        """EventBridge events of ``source`` (and ``detail_type`` when given)."""
        return self._register("eventbridge", EventBridgeSpec(source, detail_type), access)

    def custom_resource(self, resource_type: str, *, access: AccessArg = None
                        ) -> Callable[[F], F]:
        """A CloudFormation custom resource; answered exactly once per request."""
        if not resource_type.startswith("Custom::"):
            raise ValueError(f"custom resource types start with 'Custom::': {resource_type!r}")
        return self._register("custom_resource", CustomResourceSpec(resource_type), access)

    def sqs(self, *, queue: NameSpec, access: AccessArg = None) -> Callable[[F], F]:
        """Messages of the work queue ``queue``, one call per message."""
        return self._register("sqs", SqsSpec(queue), access)

    def sns(self, *, topic: NameSpec, access: AccessArg = None) -> Callable[[F], F]:
        """Messages of the topic ``topic`` (directly or through an SQS subscription)."""
        return self._register("sns", SnsSpec(topic), access)

    def ses(self, *, access: AccessArg = None) -> Callable[[F], F]:
        """Mail received by SES: a receipt rule's Lambda action (``aws:ses`` records) only."""
        return self._register("ses", SesSpec(), access)
