"""App composition: the built-ins (all or some domains) with the user's routers, prefixes, and
an observer of each invocation."""

from __future__ import annotations

import pytest

from opsfn import App, Router, builtin
from opsfn.core import manifest
from opsfn.routes import builtin_routers
from opsfn.testing import Client


def _router() -> Router:
    router = Router(auth="public")

    @router.get("/")
    def root() -> dict[str, str]:
        return {"at": "root"}

    @router.get("/items/{item_id}")
    def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    @router.action("mine")
    def mine() -> dict[str, bool]:
        return {"mine": True}

    return router


def test_builtin_is_every_manifest_route_unimported() -> None:
    routes = builtin().routes
    eager = [r for router in builtin_routers() for r in router.routes]
    assert [(r.source, r.spec) for r in routes] == [(r.source, r.spec) for r in eager]
    assert all(isinstance(r.func, manifest.LazyFunction) for r in routes)


def test_builtin_domains_pick_some() -> None:
    health = builtin("health")
    assert {r.label for r in health.routes} == {"action:health", "GET /health"}
    two = {r.func.__module__.split(".")[2] for r in builtin("health", "database").routes}
    assert two == {"health", "database"}
    with pytest.raises(ValueError, match="unknown built-in domain"):
        builtin("nope")


def test_prefixes_apply_to_http_routes_only() -> None:
    app = App([builtin("health"), ("/clinic", _router())])
    labels = {r.label for r in app.registry.routes}
    assert {"GET /health", "GET /clinic", "GET /clinic/items/{item_id}", "action:mine"} <= labels
    client = Client(app)
    assert client.get("/clinic").json() == {"at": "root"}
    assert client.get("/clinic/items/7").json() == {"id": 7}
    assert client.get("/items/7").status == 404
    assert client.invoke("mine") == {"mine": True}
    assert client.get("/health").json()["status"] == "ok"
    plain = App()
    plain.include(_router(), prefix="/v2")
    assert {r.label for r in plain.registry.routes} >= {"GET /v2", "GET /v2/items/{item_id}"}


def test_every_builtin_route_with_the_users_routes() -> None:
    """The whole built-in set plus a user's router: both serve, and the user's routes join the
    built-in ones in one registry (no domain is dropped to make room)."""
    app = App([builtin(), ("/clinic", _router())])
    labels = {r.label for r in app.registry.routes}
    assert {r.label for r in builtin().routes} < labels
    assert {"GET /clinic", "GET /clinic/items/{item_id}", "action:mine"} <= labels
    client = Client(app)
    assert client.get("/clinic/items/3").json() == {"id": 3}
    assert client.invoke("mine") == {"mine": True}
    assert client.get("/health").json()["status"] == "ok"


@pytest.mark.parametrize("prefix", ["clinic", "/clinic/", "/{tenant}"])
def test_bad_prefixes_are_refused(prefix: str) -> None:
    with pytest.raises(ValueError, match="prefix"):
        App([(prefix, _router())])


def test_a_route_that_collides_with_a_builtin_is_refused() -> None:
    router = Router()

    @router.action("health")
    def mine() -> None:
        return None

    with pytest.raises(ValueError, match="declared twice"):
        App([builtin("health"), router])


def test_observers_see_each_invocation_and_cannot_break_it() -> None:
    app = App([builtin("health"), _router()])
    seen: list[tuple[str, dict[str, list[float]]]] = []
    app.observe(lambda invocation: seen.append((invocation.kind, dict(invocation.stats))))
    app.observe(lambda invocation: 1 / 0)  # type: ignore[func-returns-value]
    assert Client(app).invoke("mine") == {"mine": True}
    assert seen[0][0] == "invoke" and list(seen[0][1]) == ["action:mine"]
