"""The route manifest: every built-in route's declaration as data, so the handler can register all
of them without importing a single route module.

Importing every route module at cold start would import pydantic and build every model before
the first event; with the manifest, a route's module is imported the first time one of its routes
runs. The manifest is generated from the routers themselves and a test fails when it is stale:

    python -m opsfn.core.manifest --write     # after adding or changing a route
    python -m opsfn.core.manifest --check
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
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

PATH = Path(__file__).parent.parent / "routes" / "manifest.json"

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
        target: Any = importlib.import_module(self.__module__)
        for part in self.__qualname__.split("."):
            target = getattr(target, part)
        return target

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


def builtin_entries() -> list[dict[str, Any]]:
    """The manifest as the built-in routers declare it now (imports every route module)."""
    from opsfn.routes import builtin_routers

    routes = [route for router in builtin_routers() for route in router.routes]
    return describe(routes)


def _in_domains(module: str, domains: tuple[str, ...] | None) -> bool:
    return domains is None or any(module == f"opsfn.routes.{d}" or module.startswith(
        f"opsfn.routes.{d}.") for d in domains)


def load(path: Path = PATH, *, domains: tuple[str, ...] | None = None) -> Router:
    """A router holding every manifest route (or those of ``domains``), with functions imported
    on first call."""
    if domains is not None:
        from opsfn.routes import DOMAINS

        unknown = sorted(set(domains) - set(DOMAINS))
        if unknown:
            raise ValueError(f"unknown built-in domain(s) {unknown}; opsfn has {list(DOMAINS)}")
    router = Router()
    for entry in json.loads(path.read_text()):
        if not _in_domains(entry["module"], domains):
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


def main(argv: list[str]) -> int:
    """``--write`` regenerates the manifest; ``--check`` exits 1 when it is stale."""
    fresh = render(builtin_entries())
    if "--write" in argv:
        PATH.write_text(fresh)
        return 0
    if PATH.read_text() != fresh:
        print("the route manifest is stale: run python -m opsfn.core.manifest --write",  # noqa: T201
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
