"""Direct invocations ``{"action": NAME, ...}``: results as JSON, failures raised as typed errors.

Raising (rather than returning an error body) is what makes failures visible to both kinds of
caller: a synchronous caller gets ``FunctionError`` with the error type and message, and an
asynchronous one gets Lambda's retries, dead-letter queue and on-failure destination.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from opsfn.binding import CallInput
from opsfn.calls import Invocation, run_route
from opsfn.errors import NotFound
from opsfn.events.invoke import split_action
from opsfn.jsonable import to_jsonable
from opsfn.router import Route

if TYPE_CHECKING:
    from opsfn.app import App

_NAMES_SHOWN = 40


def find_action(app: App, name: str) -> Route:
    """The registered action ``name``; there is no other way to reach code from a payload."""
    route = app.registry.actions.get(name)
    if route is None:
        names = sorted(app.registry.actions)
        shown = ", ".join(names[:_NAMES_SHOWN]) + (", ..." if len(names) > _NAMES_SHOWN else "")
        raise NotFound(f"unknown action {name[:64]!r}; known actions: {shown}")
    return route


def run_action(route: Route, payload: dict[str, Any], invocation: Invocation, source: str,
               envelope: Any = None) -> Any:
    """Run an action with its payload and return a JSON-safe result."""
    context = invocation.context_for(route, source)
    call = CallInput(context, lambda: payload, "payload", envelope)
    return to_jsonable(run_route(route, call, invocation))


def dispatch(app: App, event: dict[str, Any], invocation: Invocation) -> Any:
    """Serve a direct invoke."""
    name, payload = split_action(event)
    return run_action(find_action(app, name), payload, invocation, "invoke")
