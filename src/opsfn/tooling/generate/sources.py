"""Where each setting's value comes from in a deployment: the base template's ``opsfn`` metadata.

The base template says, once per setting, which CloudFormation expression holds its value (a
bucket's ``!Ref``, a parameter), optionally the expression of its ARN (``!GetAtt X.Arn``) and the
condition under which it is set at all. The generator reads routes' settings and access through
this table: the function's environment, the ARNs of its IAM statements and the conditions that
switch a statement off all follow from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

NO_VALUE: dict[str, str] = {"Ref": "AWS::NoValue"}


@dataclass(frozen=True, slots=True)
class SettingSource:
    """One setting as the template sets it."""

    value: Any
    arn: Any = None
    condition: str | None = None


class UnmappedSetting(ValueError):
    """A route names a setting the base template gives no value and that has no default."""


def read_sources(metadata: Mapping[str, Any]) -> dict[str, SettingSource]:
    """The ``settings`` table of the base's ``opsfn`` metadata."""
    table: dict[str, SettingSource] = {}
    for name, entry in (metadata.get("settings") or {}).items():
        if isinstance(entry, dict) and "value" in entry:
            table[name] = SettingSource(entry["value"], entry.get("arn"), entry.get("condition"))
        else:  # a bare expression: the value, always set
            table[name] = SettingSource(entry)
    return table


def conditional(condition: str | None, value: Any) -> Any:
    """``value`` only when ``condition`` holds (else the element or property is left out)."""
    return value if condition is None else {"Fn::If": [condition, value, NO_VALUE]}
