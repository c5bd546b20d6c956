"""Every environment variable opsfn reads, in one typed model.

(Dispatch itself reads its few variables through :mod:`opsfn.dispatch_settings`, which needs no
pydantic at import; a test keeps the two in agreement.)

Settings are read when a route needs them, not at import, so a route whose variable is missing
fails with an error naming that variable while every other route keeps working. The README's
configuration table is generated from this model (``opsfn settings --markdown``).
"""

from __future__ import annotations

import os
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from opsfn.config.core import CoreSettings
from opsfn.config.exports import ExportsSettings
from opsfn.config.imaging import ImagingSettings
from opsfn.config.operations import OperationsSettings
from opsfn.config.platform import PlatformSettings
from opsfn.environ import EnvWatch
from opsfn.errors import InvalidSetting, MissingSetting

__all__ = ["InvalidSetting", "Settings", "get_settings", "setting_variables"]


class Settings(CoreSettings, ImagingSettings, PlatformSettings, ExportsSettings,
               OperationsSettings):
    """The environment, typed. Field aliases are the variable names."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    def required(self, variable: str) -> str:
        """The value of ``variable`` (an alias above), or :class:`MissingSetting` naming it."""
        name = _ALIAS_TO_FIELD.get(variable)
        if name is None:
            raise KeyError(f"{variable} is not a known setting")
        value = getattr(self, name)
        if value is None or value == "":
            raise MissingSetting(variable)
        return str(value)


_ALIAS_TO_FIELD: dict[str, str] = {
    str(info.alias): name for name, info in Settings.model_fields.items()
}

M = TypeVar("M", bound=BaseModel)


class _CachedSection(Generic[M]):
    """A settings model read from the environment, rebuilt only when one of its variables changes."""

    def __init__(self, model: type[M]) -> None:
        self.model = model
        self.aliases = [str(info.alias) for info in model.model_fields.values()]
        self.watch = EnvWatch(self.aliases)
        self.cache: tuple[tuple[Any, ...], M] | None = None

    def get(self) -> M:
        snapshot = self.watch.snapshot()
        cached = self.cache
        if cached is not None and cached[0] == snapshot:
            return cached[1]
        values = {alias: os.environ[alias] for alias in self.aliases if alias in os.environ}
        try:
            loaded = self.model.model_validate(values)
        except ValidationError as exc:
            bad = sorted({str(error["loc"][0]) for error in exc.errors() if error["loc"]})
            raise InvalidSetting(bad) from None
        self.cache = (snapshot, loaded)
        return loaded


_ALL = _CachedSection(Settings)


def get_settings() -> Settings:
    """Settings from the current environment, cached until a variable changes."""
    return _ALL.get()


def setting_variables() -> list[tuple[str, str, str]]:
    """(variable, default, description) for every setting, for docs and the CLI."""
    rows = []
    for info in Settings.model_fields.values():
        default = "" if info.default is None else str(info.default)
        rows.append((str(info.alias), default, info.description or ""))
    return rows
