"""Declaring settings: a class attribute per variable, typed by its annotation.

Settings are plain classes rather than pydantic models on purpose: routes read them on every
cold start, and importing pydantic costs more than a light route's whole cold start. The types
in use are few (``str``, ``int``, ``float``, ``bool``, ``Literal[...]``, each optionally
``| None``), so parsing them here is short and exact.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Any

MiB = 1024 * 1024
_TRUE = frozenset({"1", "true", "yes", "on", "t", "y"})
_FALSE = frozenset({"0", "false", "no", "off", "f", "n"})


@dataclass(frozen=True, slots=True)
class EnvField:
    """One environment variable: its name, meaning, default and limits."""

    env: str
    description: str
    default: Any = None
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    min_length: int | None = None
    max_length: int | None = None


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


class SettingsSection:
    """Base of the settings sections; subclasses declare ``name: type = env_field(...)``."""

    @classmethod
    def fields(cls) -> dict[str, tuple[EnvField, Any]]:
        """Every field of the class and its bases: name -> (field, annotation)."""
        found = _FIELDS.get(cls)
        if found is None:
            found = _FIELDS[cls] = _collect(cls)
        return found

    @classmethod
    def load(cls, environ: typing.Mapping[str, str]) -> Any:
        """An instance from ``environ``; raises ValueError naming every invalid variable."""
        instance = cls.__new__(cls)
        bad = []
        for name, (field, annotation) in cls.fields().items():
            raw = environ.get(field.env)
            if raw is None:
                value = field.default
            else:
                try:
                    value = parse(field, annotation, raw)
                except (ValueError, TypeError):
                    bad.append(field.env)
                    continue
            object.__setattr__(instance, name, value)
        if bad:
            raise ValueError(bad)
        return instance

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("settings are read-only")


_FIELDS: dict[type, dict[str, tuple[EnvField, Any]]] = {}


def _collect(cls: type) -> dict[str, tuple[EnvField, Any]]:
    found: dict[str, tuple[EnvField, Any]] = {}
    for klass in reversed(cls.__mro__):
        if not issubclass(klass, SettingsSection):
            continue
        hints = typing.get_type_hints(klass)
        for name, value in vars(klass).items():
            if isinstance(value, EnvField):
                found[name] = (value, hints[name])
    return found
