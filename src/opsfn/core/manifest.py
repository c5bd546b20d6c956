"""Route manifests: routes' declarations as data, so a handler can register all of them without
importing a single route module.

Importing every route module at cold start would import pydantic and build every model before
the first event; with a manifest, a route's module is imported the first time one of its routes
runs. The built-in routes' manifest is :mod:`opsfn.routes.manifest`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from opsfn.core import access
from opsfn.core.router import (
    ActionSpec,
    CustomResourceSpec,
    EventBridgeSpec,
    HttpSpec,
    NameSpec,
    Route,
    Router,
    S3Spec,
    ScheduleSpec,
    SesSpec,
    Setting,
    SnsSpec,
    Spec,
    SqsSpec,
)
from opsfn.lazy import load

# The fields that name a resource literally or through a setting, per source.
_NAME_FIELDS = {"s3": "bucket", "sqs": "queue", "sns": "topic"}
_SPECS: dict[str, type] = {
    "http": HttpSpec, "action": ActionSpec, "s3": S3Spec, "schedule": ScheduleSpec,
    "eventbridge": EventBridgeSpec, "custom_resource": CustomResourceSpec, "sqs": SqsSpec,
    "sns": SnsSpec, "ses": SesSpec,
}


class LazyFunction:
    """Stands for a route function until its module is imported on first use."""

    def __init__(self, module: str, qualname: str) -> None:
        self.__module__ = module
        self.__qualname__ = qualname
        self.__name__ = qualname.rsplit(".", 1)[-1]
        self.__doc__ = None

    def resolve(self) -> Any:
        """Import the module and return the real function."""
        return load(f"{self.__module__}:{self.__qualname__}")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.resolve()(*args, **kwargs)


def _name_to_json(name: NameSpec) -> Any:
    return {"setting": name.variable} if isinstance(name, Setting) else name


def _name_from_json(value: Any) -> NameSpec:
    return Setting(value["setting"]) if isinstance(value, dict) else str(value)


def spec_to_json(spec: Spec) -> dict[str, Any]:
    """A spec as JSON data (settings as ``{"setting": VAR}``, tuples as lists)."""
    data: dict[str, Any] = {}
    for field in spec.__dataclass_fields__:
        value = getattr(spec, field)
        if isinstance(value, Setting):
            value = _name_to_json(value)
        elif isinstance(value, tuple):
            value = list(value)
        data[field] = value
    return data


def spec_from_json(source: str, data: dict[str, Any]) -> Spec:
    """The inverse of :func:`spec_to_json`."""
    values = dict(data)
    name_field = _NAME_FIELDS.get(source)
    if name_field is not None:
        values[name_field] = _name_from_json(values[name_field])
    if "events" in values:
        values["events"] = tuple(values["events"])
    spec: Spec = _SPECS[source](**values)
    return spec


def describe(routes: list[Route]) -> list[dict[str, Any]]:
    """The manifest entries of ``routes``, in registration order."""
    return [{"source": r.source, "module": r.func.__module__, "function": r.func.__qualname__,
             "spec": spec_to_json(r.spec), "access": access.to_json(r.access)} for r in routes]


def routes_of(entries: list[dict[str, Any]], keep: Callable[[str], bool] = lambda _m: True
              ) -> Router:
    """A router of the manifest ``entries`` whose module ``keep`` accepts, with functions
    imported on first call."""
    router = Router()
    for entry in entries:
        if not keep(entry["module"]):
            continue
        spec = spec_from_json(entry["source"], entry["spec"])
        router.routes.append(Route(entry["source"], spec,
                                   LazyFunction(entry["module"], entry["function"]),
                                   access=access.from_json(entry.get("access", []))))
    return router


def render(entries: list[dict[str, Any]]) -> str:
    """The manifest file's text (stable, one route per line for readable diffs)."""
    lines = ",\n".join("  " + json.dumps(entry, sort_keys=True) for entry in entries)
    return f"[\n{lines}\n]\n"
