"""A group of routes served by a function of its own: the registry limited by ``OPSFN_ROUTES``.

One function serves every route by default. A deployment may move a group of routes (a domain,
or routes named by their key) to a second function built from the same code: that function sets
``OPSFN_ROUTES=imaging`` and serves only that group; the first sets ``OPSFN_ROUTES=-imaging`` and
serves everything else. Each then gets a role made of only its routes' declarations.

An entry names a domain (``imaging``; an application's top package), a route's key as
``opsfn routes`` shows it (``GET /health``, ``action:health``, ``schedule:database-auto-stop``)
or a route function (``opsfn.routes.health.health_http``). Entries starting with ``-`` leave
routes out; without any other entry every route not left out is kept.
"""

from __future__ import annotations

from collections.abc import Iterable

from opsfn.core.access import Grant
from opsfn.core.app import App
from opsfn.core.router import Route, Router

SETTING = "OPSFN_ROUTES"


def domain_of(route: Route) -> str:
    """A route's domain: its built-in package under ``opsfn.routes``, else its top package."""
    module = route.func.__module__
    if module.startswith("opsfn.routes."):
        return module.split(".")[2]
    return module.split(".")[0].replace("_", "-")


def grants_by_domain(routes: Iterable[Route], framework: Iterable[Grant] = ()
                     ) -> dict[str, list[Grant]]:
    """Each domain's grants (the framework's first), in declaration order, each once: what one
    IAM policy per domain is made of, in the SAM template and the CDK construct alike."""
    framework = list(framework)
    found: dict[str, list[Grant]] = {"framework": framework} if framework else {}
    for route in routes:
        grants = found.setdefault(domain_of(route), [])
        grants += [g for g in route.access if g not in grants]
    return found


def entries(spec: str) -> list[str]:
    """The comma-separated entries of a group (spaces inside a key kept)."""
    return [part.strip() for part in spec.split(",") if part.strip()]


def matches(route: Route, entry: str) -> bool:
    """Whether ``entry`` (without its ``-``) names ``route``."""
    return entry in (domain_of(route), route.label, route.handler_name)


def select(routes: Iterable[Route], spec: str) -> list[Route]:
    """The routes ``spec`` keeps; an entry that names no route is a ValueError (a typo would
    otherwise deploy a function that serves nothing, or everything)."""
    found = list(routes)
    wanted = entries(spec)
    keep = [e for e in wanted if not e.startswith("-")]
    drop = [e[1:].strip() for e in wanted if e.startswith("-")]
    unknown = [e for e in keep + drop if not any(matches(r, e) for r in found)]
    if unknown:
        raise ValueError(f"{SETTING} names no route: {', '.join(unknown)}")
    return [r for r in found
            if (not keep or any(matches(r, e) for e in keep))
            and not any(matches(r, e) for e in drop)]


def limited(app: App, spec: str | None) -> App:
    """``app`` serving only the routes ``spec`` keeps (``app`` itself when there is no spec)."""
    if not spec or not spec.strip():
        return app
    group = Router()
    group.routes = select(app.registry.routes, spec)
    return App([group])
