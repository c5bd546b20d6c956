"""Direct invocations ``{"action": NAME, ...}``: results as JSON, failures raised as typed errors.

Raising (rather than returning an error body) is what makes failures visible to both kinds of
caller: a synchronous caller gets ``FunctionError`` with the error type and message, and an
asynchronous one gets Lambda's retries, dead-letter queue and on-failure destination.
"""

from __future__ import annotations

from typing import Any

from opsfn.core.invocation import Invocation
from opsfn.core.registry import Registry
from opsfn.core.route_call import run_route
from opsfn.core.router import Route
from opsfn.errors import NotFound
from opsfn.events.invoke import split_action
from opsfn.events.jsonable import to_jsonable
from opsfn.events.kinds import Via

_NAMES_SHOWN = 40


def find_action(registry: Registry, name: str) -> Route:
    """The registered action ``name``; there is no other way to reach code from a payload."""
    route = registry.actions.get(name)
    if route is None:
        names = sorted(registry.actions)
        shown = ", ".join(names[:_NAMES_SHOWN]) + (", ..." if len(names) > _NAMES_SHOWN else "")
        raise NotFound(f"unknown action {name[:64]!r}; known actions: {shown}")
    return route


def run_action(route: Route, payload: dict[str, Any], invocation: Invocation, source: Via,
               envelope: Any = None) -> Any:
    """Run an action with its payload and return a JSON-safe result."""
    return to_jsonable(run_route(route, invocation, lambda: payload, "payload", envelope,
                                 source=source))


def dispatch(event: dict[str, Any], invocation: Invocation) -> Any:
    """Serve a direct invoke."""
    name, payload = split_action(event)
    return run_action(find_action(invocation.registry, name), payload, invocation, "invoke")
