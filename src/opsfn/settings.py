"""Every environment variable opsfn reads, in one typed model.

Settings are read when a route needs them, not at import, so a route whose variable is missing
fails with an error naming that variable while every other route keeps working. The README's
configuration table is generated from this model (``opsfn settings --markdown``).
"""

from __future__ import annotations

import os

from pydantic import ConfigDict, ValidationError

from opsfn.config.core import CoreSettings
from opsfn.config.exports import ExportsSettings
from opsfn.config.imaging import ImagingSettings
from opsfn.config.operations import OperationsSettings
from opsfn.config.platform import PlatformSettings
from opsfn.errors import MissingSetting, OpsfnError


class InvalidSetting(OpsfnError):
    """An environment variable is set to a value of the wrong type or range."""

    code = "invalid_setting"

    def __init__(self, variables: list[str]) -> None:
        super().__init__(f"invalid value for setting(s): {', '.join(variables)}")
        self.variables = variables


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

_cache: tuple[tuple[str | None, ...], Settings] | None = None


def get_settings() -> Settings:
    """Settings from the current environment, cached until a variable changes."""
    global _cache  # noqa: PLW0603 - a per-process cache keyed by the values it was built from
    snapshot = tuple(os.environ.get(alias) for alias in _ALIAS_TO_FIELD)
    if _cache is not None and _cache[0] == snapshot:
        return _cache[1]
    values = {alias: value for alias, value in zip(_ALIAS_TO_FIELD, snapshot, strict=True)
              if value is not None}
    try:
        settings = Settings.model_validate(values)
    except ValidationError as exc:
        bad = sorted({str(error["loc"][0]) for error in exc.errors() if error["loc"]})
        raise InvalidSetting(bad) from None
    _cache = (snapshot, settings)
    return settings


def setting_variables() -> list[tuple[str, str, str]]:
    """(variable, default, description) for every setting, for docs and the CLI."""
    rows = []
    for info in Settings.model_fields.values():
        default = "" if info.default is None else str(info.default)
        rows.append((str(info.alias), default, info.description or ""))
    return rows
