"""Every environment variable opsfn reads, in one typed model.

Settings are read when a route needs them, not at import, so a route whose variable is missing
fails with an error naming that variable while every other route keeps working. Sections live in
:mod:`opsfn.config`, one per domain; the README's configuration table is generated from this
model (``opsfn settings --markdown``). Parsing needs no pydantic (see :mod:`opsfn.config.fields`).
"""

from __future__ import annotations

import os
from typing import Any, Generic, TypeVar

from opsfn.config.core import CoreSettings
from opsfn.config.exports import ExportsSettings
from opsfn.config.fields import EnvField, SettingsSection
from opsfn.config.imaging import ImagingSettings
from opsfn.config.operations import OperationsSettings
from opsfn.config.platform import PlatformSettings
from opsfn.environ import EnvWatch
from opsfn.errors import InvalidSetting, MissingSetting

__all__ = ["InvalidSetting", "Settings", "core_settings", "get_settings", "setting_variables"]


class Settings(CoreSettings, ImagingSettings, PlatformSettings, ExportsSettings,
               OperationsSettings):
    """The environment, typed. Each field names its variable."""

    def required(self, variable: str) -> str:
        """The value of ``variable``, or :class:`MissingSetting` naming it."""
        name = _VARIABLE_TO_FIELD.get(variable)
        if name is None:
            raise KeyError(f"{variable} is not a known setting")
        value = getattr(self, name)
        if value is None or value == "":
            raise MissingSetting(variable)
        return str(value)


_VARIABLE_TO_FIELD = {field.env: name for name, (field, _) in Settings.fields().items()}

S = TypeVar("S", bound=SettingsSection)


class _CachedSection(Generic[S]):
    """A section read from the environment, re-read only when one of its variables changes."""

    def __init__(self, section: type[S]) -> None:
        self.section = section
        self.watch = EnvWatch(field.env for field, _ in section.fields().values())
        self.cache: tuple[tuple[Any, ...], S] | None = None

    def get(self) -> S:
        snapshot = self.watch.snapshot()
        cached = self.cache
        if cached is not None and cached[0] == snapshot:
            return cached[1]
        try:
            loaded: S = self.section.load(os.environ)
        except ValueError as exc:
            raise InvalidSetting(sorted(exc.args[0])) from None
        self.cache = (snapshot, loaded)
        return loaded


_ALL = _CachedSection(Settings)
_CORE = _CachedSection(CoreSettings)


def get_settings() -> Settings:
    """Settings from the current environment, cached until a variable changes."""
    return _ALL.get()


def core_settings() -> CoreSettings:
    """Only the framework's own section: what dispatch reads on every event (about 1 us)."""
    return _CORE.get()


def fields() -> dict[str, EnvField]:
    """Every setting's declaration by attribute name (defaults, limits, descriptions)."""
    return {name: field for name, (field, _) in Settings.fields().items()}


def setting_variables() -> list[tuple[str, str, str]]:
    """(variable, default, description) for every setting, for docs and the CLI."""
    return [(field.env, "" if field.default is None else str(field.default), field.description)
            for field in fields().values()]
