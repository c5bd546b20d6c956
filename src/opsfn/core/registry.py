"""The route registry: one dict per source, so a lookup never scans every route.

Names that come from settings (a bucket or queue named by an environment variable) are resolved
when an event needs them and cached until one of those variables changes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from opsfn.core.environ import EnvWatch
from opsfn.core.paths import PathIndex
from opsfn.core.router import (
    ActionSpec,
    CustomResourceSpec,
    EventBridgeSpec,
    HttpSpec,
    NameSpec,
    Route,
    S3Spec,
    ScheduleSpec,
    SesSpec,
    Setting,
    SnsSpec,
    SqsSpec,
)
from opsfn.events.kinds import SOURCES

T = TypeVar("T")
K = TypeVar("K")


def bucket_name(value: str) -> str:
    """A bucket name from a name or an ``arn:aws:s3:::name`` ARN."""
    return value.rsplit(":", 1)[-1]


def last_name(value: str) -> str:
    """A queue or topic name from a name, an ARN or a queue URL."""
    return value.rsplit(":", 1)[-1].rsplit("/", 1)[-1]


class NamedIndex(Generic[T]):
    """Items keyed by a resource name given literally or by a :class:`Setting`."""

    def __init__(self, normalise: Callable[[str], str]) -> None:
        self._normalise = normalise
        self._literal: dict[str, list[T]] = {}
        self._by_setting: list[tuple[Setting, T]] = []
        self._watch = EnvWatch(())
        self._resolved: tuple[tuple[object, ...], dict[str, list[T]]] = ((), {})

    def add(self, name: NameSpec, item: T) -> None:
        """Index ``item`` under ``name``."""
        if isinstance(name, Setting):
            self._by_setting.append((name, item))
            self._watch = EnvWatch(s.variable for s, _ in self._by_setting)
            self._resolved = ((), {})
        else:
            self._literal.setdefault(self._normalise(name), []).append(item)

    def _dynamic(self) -> dict[str, list[T]]:
        if not self._by_setting:
            return {}
        snapshot = self._watch.snapshot()
        if self._resolved[0] == snapshot and snapshot:
            return self._resolved[1]
        table: dict[str, list[T]] = {}
        for setting_ref, item in self._by_setting:
            value = setting_ref.resolve()
            if value:
                table.setdefault(self._normalise(value), []).append(item)
        self._resolved = (snapshot, table)
        return table

    def get(self, name: str) -> list[T]:
        """Every item for ``name`` (literal first, then settings)."""
        literal = self._literal.get(name, [])
        dynamic = self._dynamic().get(name)
        return literal + dynamic if dynamic else literal

    def unresolved(self) -> list[str]:
        """Variables named by routes but unset now (for health and explain)."""
        return sorted({s.variable for s, _ in self._by_setting if not s.resolve()})


class Registry:
    """Every route of an app, indexed per source."""

    def __init__(self) -> None:
        self.routes: list[Route] = []
        self.http: PathIndex[Route] = PathIndex()
        self.actions: dict[str, Route] = {}
        self.schedules: dict[str, Route] = {}
        self.eventbridge: dict[tuple[str, str | None], Route] = {}
        self.custom_resources: dict[str, Route] = {}
        self.s3: NamedIndex[Route] = NamedIndex(bucket_name)
        self.sqs: NamedIndex[Route] = NamedIndex(last_name)
        self.sns: NamedIndex[Route] = NamedIndex(last_name)
        self.ses: list[Route] = []  # the event names no rule: every SES route gets every message

    @staticmethod
    def _unique(table: dict[K, Route], key: K, route: Route, what: str) -> None:
        if key in table:
            raise ValueError(f"{what} {key!r} is declared twice ({route.handler_name})")
        table[key] = route

    def add(self, route: Route) -> None:
        """Index one route; a duplicate key is a programming error raised at import."""
        spec = route.spec
        if isinstance(spec, HttpSpec):
            self.http.add(spec.path, spec.method, route)
        elif isinstance(spec, ActionSpec):
            self._unique(self.actions, spec.name, route, "action")
        elif isinstance(spec, ScheduleSpec):
            self._unique(self.schedules, spec.name, route, "schedule")
        elif isinstance(spec, EventBridgeSpec):
            key = (spec.source, spec.detail_type)
            self._unique(self.eventbridge, key, route, "EventBridge pattern")
        elif isinstance(spec, CustomResourceSpec):
            self._unique(self.custom_resources, spec.resource_type, route, "custom resource")
        elif isinstance(spec, S3Spec):
            self.s3.add(spec.bucket, route)
        elif isinstance(spec, SqsSpec):
            self.sqs.add(spec.queue, route)
        elif isinstance(spec, SnsSpec):
            self.sns.add(spec.topic, route)
        elif isinstance(spec, SesSpec):
            self.ses.append(route)
        self.routes.append(route)

    def eventbridge_route(self, source: str, detail_type: str) -> Route | None:
        """The route for an exact (source, detail-type), else one for the whole source."""
        return self.eventbridge.get((source, detail_type)) or self.eventbridge.get((source, None))

    def counts(self) -> dict[str, int]:
        """Number of routes per source."""
        counts: dict[str, int] = dict.fromkeys(SOURCES, 0)
        for route in self.routes:
            counts[route.source] += 1
        return counts
