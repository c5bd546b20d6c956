"""Turn a route function's type hints into the arguments of one call.

The hints are the contract: a pydantic model parameter is validated from the source's payload
(HTTP body or query, action payload, EventBridge detail, custom resource properties, SQS/SNS
message), an envelope type (``HttpRequest``, ``S3Object``, ...) receives the normalised event,
``Context`` receives the invocation, and for HTTP other parameters bind path parameters by name,
then query parameters. Hints are read once per route, on its first call.
"""

from __future__ import annotations

import inspect
import sys
import typing
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from opsfn.core.invocation import Invocation
from opsfn.core.paths import template_params
from opsfn.core.router import HttpSpec, Route
from opsfn.core.text import Text, text_constraint
from opsfn.errors import InternalError, ValidationFailed
from opsfn.events.envelope import Envelope

_EMPTY = inspect.Parameter.empty


@dataclass(frozen=True, slots=True)
class Param:
    """How one parameter gets its value."""

    name: str
    kind: str  # context | model | envelope | raw | path | query
    annotation: Any
    default: Any
    envelope: type | None = None


validation_error = ValidationFailed.from_pydantic
"""A pydantic ValidationError as field paths and reasons (:meth:`ValidationFailed.from_pydantic`)."""


def _without_extras(annotation: Any) -> Any:
    """``X`` of ``Annotated[X, ...]``; any other annotation unchanged."""
    if typing.get_origin(annotation) is typing.Annotated:
        return typing.get_args(annotation)[0]
    return annotation


def _envelope_type(annotation: Any) -> type | None:
    """The envelope class of ``X`` or ``X | None``, else None."""
    candidates = [a for a in typing.get_args(annotation) if a is not type(None)] or [annotation]
    if len(candidates) == 1 and isinstance(candidates[0], type) and issubclass(candidates[0],
                                                                               Envelope):
        return candidates[0]
    return None


def _is_model(annotation: Any) -> bool:
    # A class can only be a pydantic model if pydantic was imported to define it.
    pydantic = sys.modules.get("pydantic")
    if pydantic is None or not isinstance(annotation, type):
        return False
    return issubclass(annotation, pydantic.BaseModel)


class Binder:
    """The parameter plan of one route, built from its signature and type hints."""

    def __init__(self, route: Route) -> None:
        try:
            # Extras kept: an Annotated path or query parameter's constraints are validated.
            hints = typing.get_type_hints(route.func, include_extras=True)
        except Exception as exc:
            raise InternalError(f"route {route.handler_name} has unresolvable type hints") from exc
        path_names = (
            set(template_params(route.spec.path)) if isinstance(route.spec, HttpSpec) else set()
        )
        params: list[Param] = []
        for name, parameter in inspect.signature(route.func).parameters.items():
            full = hints.get(name, Any)
            annotation = _without_extras(full)
            kind = self._kind(route, name, annotation, path_names)
            params.append(Param(name, kind, full if kind in ("path", "query") else annotation,
                                parameter.default, _envelope_type(annotation)))
        self.params = tuple(params)
        self._parsers: dict[str, Callable[[str, str], Any]] = {}
        self._getters = tuple((param.name, self._getter(param)) for param in self.params)

    @staticmethod
    def _kind(route: Route, name: str, annotation: Any, path_names: set[str]) -> str:
        if annotation is Invocation:
            return "context"
        if _envelope_type(annotation) is not None:
            return "envelope"
        if _is_model(annotation):
            return "model"
        if name in path_names:
            return "path"
        if route.source == "http":
            return "query"
        origin = typing.get_origin(annotation) or annotation
        if origin in (dict, Any, object):
            return "raw"
        raise InternalError(
            f"route {route.handler_name}: parameter {name!r} has no source (annotate it with a "
            "model, an event type, Context or dict)"
        )

    def _parser(self, param: Param) -> Callable[[str, str], Any]:
        parser = self._parsers.get(param.name)
        if parser is None:
            from opsfn.core.validation import string_parser

            parser = self._parsers[param.name] = string_parser(param.annotation)
        return parser

    def _scalar(self, param: Param, raw: str | None, loc: str) -> Any:
        if raw is None:
            if param.default is not _EMPTY:
                return param.default
            raise ValidationFailed(
                f"missing {loc}", details=[{"loc": loc, "msg": "Field required", "type": "missing"}]
            )
        if param.annotation in (str, Any):
            return raw
        return self._parser(param)(raw, loc)

    def _getter(self, param: Param) -> Callable[[Invocation], Any]:
        """How one parameter's value is taken from a call, decided once per route."""
        if param.kind == "context":
            return _invocation_itself
        if param.kind == "envelope":
            return lambda call: self._envelope(param, call)
        if param.kind == "model":
            return lambda call: self._model(param, call)
        if param.kind == "raw":
            return _payload_of
        # Path and query parameters exist on HTTP routes only, whose envelope is the HttpRequest.
        text = text_constraint(param.annotation)
        scalar = self._scalar if text is None else partial(self._text, text)
        if param.kind == "path":
            path_loc = f"path.{param.name}"
            return lambda call: scalar(param, call.envelope.path_params.get(param.name), path_loc)
        query_loc = f"query.{param.name}"
        return lambda call: scalar(param, call.envelope.query.get(param.name), query_loc)

    def _text(self, text: Text, param: Param, raw: str | None, loc: str) -> Any:
        """A Text-constrained string, checked without pydantic."""
        if raw is None:
            return self._scalar(param, raw, loc)
        problem = text.problem(raw)
        if problem is not None:
            raise ValidationFailed(f"invalid {loc}",
                                   details=[{"loc": loc, "msg": problem[0], "type": problem[1]}])
        return raw

    def bind(self, call: Invocation) -> dict[str, Any]:
        """Keyword arguments for one call; ValidationFailed names the field paths."""
        kwargs = {}
        for name, get in self._getters:  # a loop: a comprehension is one more frame on 3.11
            kwargs[name] = get(call)
        return kwargs

    @staticmethod
    def _envelope(param: Param, call: Invocation) -> Any:
        wanted = param.envelope
        if wanted is not None and isinstance(call.envelope, wanted):
            return call.envelope
        if param.default is not _EMPTY:
            return param.default
        raise InternalError(
            f"{getattr(wanted, '__name__', wanted)} is not available from {call.source}"
        )

    def _model(self, param: Param, call: Invocation) -> Any:
        # The model's own validator, as model_validate(_json) calls it with default options
        # (a deferred model builds it on first use); the wrapper costs a microsecond per call.
        validator = param.annotation.__pydantic_validator__
        try:
            if call.raw_json is not None:
                return validator.validate_json(call.raw_json())
            return validator.validate_python(call.payload())
        except Exception as exc:
            # The validator is pydantic's, so pydantic_core is loaded: its error class is there.
            if isinstance(exc, sys.modules["pydantic_core"].ValidationError):
                raise validation_error(exc, call.payload_loc) from None
            raise


def _invocation_itself(call: Invocation) -> Invocation:
    return call


def _payload_of(call: Invocation) -> Any:
    return call.payload()


def binder_for(route: Route) -> Binder:
    """The route's binder, built once and kept on the route."""
    binder = route.binder
    if binder is None:
        resolve = getattr(route.func, "resolve", None)
        if callable(resolve):  # a manifest route: import its module now, on first use
            route.func = resolve()
        binder = Binder(route)
        route.binder = binder
    return binder
