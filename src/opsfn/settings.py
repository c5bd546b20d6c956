"""The public home of settings: ``from opsfn.settings import SettingsSection, env_field``.

A domain's or an application's own section declares its environment variables with their types,
defaults and limits (:mod:`opsfn.core.settings` implements them); ``core_settings()`` is the
framework's own (region, endpoint, queues). This module keeps the documented import path.
"""

from __future__ import annotations

from opsfn.core.settings import (
    CoreSettings,
    MiB,
    SettingsSection,
    core_settings,
    env_field,
    register_section,
)

__all__ = ["CoreSettings", "MiB", "SettingsSection", "core_settings", "env_field",
           "register_section"]
