"""The built-in domains, each declared once: its router, settings sections and commands.

The registry (:func:`builtin_routers`), the settings sections (registered below), the ``opsfn``
commands (:func:`command_modules`) and the route manifest all follow from :data:`DECLARED`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from opsfn.core.settings import register_section
from opsfn.lazy import load

if TYPE_CHECKING:
    from opsfn import Router

__all__ = ["DECLARED", "DOMAINS", "Domain", "builtin_routers", "command_modules"]


@dataclass(frozen=True, slots=True)
class Domain:
    """Where one domain's parts are: its router (``opsfn.routes.<name>:router``), its settings
    sections (``"module:Class"``) and whether ``opsfn.routes.<name>.cli`` adds commands."""

    name: str
    sections: tuple[str, ...] = ()
    commands: bool = True

    @property
    def router(self) -> str:
        return f"opsfn.routes.{self.name}:router"


def _section(domain: str, name: str, module: str = "settings") -> str:
    return f"opsfn.routes.{domain}.{module}:{name}"


DECLARED = (
    Domain("health", commands=False),
    Domain("imaging", (_section("imaging", "ImagingSettings"),)),
    Domain("incidents", (_section("incidents", "IncidentSettings"),)),
    Domain("database", (_section("database", "DatabaseSettings"),)),
    Domain("etl", (_section("etl", "EtlSettings"),)),
    Domain("tls", (_section("tls", "TlsSettings"),)),
    Domain("ses", (_section("ses", "SesSettings"),
                   _section("ses", "RelaySettings", "relay_settings"))),
    Domain("exports", (_section("exports", "ExportsSettings"),)),
)
DOMAINS = tuple(domain.name for domain in DECLARED)

register_section("opsfn.services.settings:SharedSettings")  # the tables several domains share
for _domain in DECLARED:
    for _reference in _domain.sections:
        register_section(_reference)


def builtin_routers() -> list[Router]:
    """Every built-in router (imports every route module: the manifest spares the handler this).

    Modules import only light things at import time: AWS clients, imaging, crypto and cache
    libraries are imported inside the functions that use them.
    """
    return [load(domain.router) for domain in DECLARED]


def command_modules() -> list[str]:
    """The modules whose ``register(subparsers)`` adds a domain's ``opsfn`` commands."""
    return [f"opsfn.routes.{domain.name}.cli" for domain in DECLARED if domain.commands]
