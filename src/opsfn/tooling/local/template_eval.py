"""Evaluate the SAM template's intrinsic functions for the local stack.

Only what a template of this shape uses: ``Ref``, ``GetAtt``, ``Sub``, ``If``, ``Join``,
``Select``, ``Split`` and the condition functions. Resources resolve to the names and ARNs the local
stack gave them; parameters to their defaults unless overridden.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

ACCOUNT = "123456789012"
NO_VALUE = object()  # AWS::NoValue: the property disappears
_SUB = re.compile(r"\$\{([^}!]+)\}")


@dataclass
class Evaluator:
    """Resolves expressions against parameters, pseudo parameters and created resources."""

    template: dict[str, Any]
    region: str
    parameters: dict[str, Any] = field(default_factory=dict)
    refs: dict[str, Any] = field(default_factory=dict)
    attrs: dict[str, dict[str, Any]] = field(default_factory=dict)
    stack_name: str = "opsfn-local"

    def __post_init__(self) -> None:
        declared = self.template.get("Parameters") or {}
        values: dict[str, Any] = {}
        for name, spec in declared.items():
            default = spec.get("Default") if isinstance(spec, dict) else None
            if isinstance(spec, dict) and spec.get("Type") == "CommaDelimitedList":
                default = [p for p in str(default or "").split(",") if p]
            values[name] = default
        for name, value in self.parameters.items():
            kind = (declared.get(name) or {}).get("Type")
            values[name] = [p for p in str(value).split(",") if p] \
                if kind == "CommaDelimitedList" else value
        self.parameters = values
        self._conditions: dict[str, bool] = {}

    # -- conditions ---------------------------------------------------------------------------
    def condition(self, name: str) -> bool:
        """The value of a named condition (unknown forms count as false)."""
        if name not in self._conditions:
            self._conditions[name] = False  # guards against cycles
            expression = (self.template.get("Conditions") or {}).get(name)
            self._conditions[name] = bool(self.value(expression))
        return self._conditions[name]

    def active(self, resource: dict[str, Any]) -> bool:
        """Whether a resource exists for the current parameters."""
        condition = resource.get("Condition")
        return not isinstance(condition, str) or self.condition(condition)

    # -- values -------------------------------------------------------------------------------
    def pseudo(self, name: str) -> Any:
        """Pseudo parameters."""
        return {
            "AWS::Region": self.region, "AWS::AccountId": ACCOUNT, "AWS::Partition": "aws",
            "AWS::StackName": self.stack_name, "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": NO_VALUE,
            "AWS::StackId": f"arn:aws:cloudformation:{self.region}:{ACCOUNT}:stack/"
                            f"{self.stack_name}/00000000-0000-0000-0000-000000000000",
        }.get(name)

    def ref(self, name: str) -> Any:
        """``Ref``: a parameter, a pseudo parameter or a created resource."""
        if name.startswith("AWS::"):
            return self.pseudo(name)
        if name in self.parameters:
            return self.parameters[name]
        return self.refs.get(name)

    def get_att(self, logical: str, attribute: str) -> Any:
        """``GetAtt`` of a created resource."""
        return (self.attrs.get(logical) or {}).get(attribute)

    def _sub(self, text: str, variables: dict[str, Any]) -> str | None:
        missing = False

        def replace(match: re.Match[str]) -> str:
            nonlocal missing
            key = match.group(1)
            if key in variables:
                value = self.value(variables[key])
            elif "." in key and not key.startswith("AWS::"):
                logical, attribute = key.split(".", 1)
                value = self.get_att(logical, attribute)
            else:
                value = self.ref(key)
            if value is None:
                missing = True
                return ""
            return str(value)

        result = _SUB.sub(replace, text)
        return None if missing else result

    def value(self, expression: Any) -> Any:
        """Evaluate ``expression``; None when it names something the local stack lacks."""
        if isinstance(expression, list):
            items = [self.value(item) for item in expression]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(expression, dict):
            return expression
        if len(expression) != 1:
            return {k: v for k, v in ((k, self.value(v)) for k, v in expression.items())
                    if v is not NO_VALUE}
        ((key, arg),) = expression.items()
        if key == "Ref":
            return self.ref(str(arg))
        if key == "Fn::GetAtt":
            parts = arg.split(".", 1) if isinstance(arg, str) else arg
            return self.get_att(str(parts[0]), str(parts[1]))
        if key == "Fn::Sub":
            if isinstance(arg, list):
                return self._sub(str(arg[0]), dict(arg[1]))
            return self._sub(str(arg), {})
        if key == "Fn::If":
            return self.value(arg[1] if self.condition(str(arg[0])) else arg[2])
        if key == "Fn::Join":
            parts = self.value(arg[1])
            return str(arg[0]).join(str(p) for p in parts) if isinstance(parts, list) else None
        if key == "Fn::Select":
            items = self.value(arg[1])
            index = int(self.value(arg[0]))
            return items[index] if isinstance(items, list) and index < len(items) else None
        if key == "Fn::Split":
            text = self.value(arg[1])
            return str(text).split(str(arg[0])) if text is not None else None
        if key == "Fn::Equals":
            return self.value(arg[0]) == self.value(arg[1])
        if key == "Fn::Not":
            return not self.value(arg[0])
        if key == "Fn::And":
            return all(self.value(item) for item in arg)
        if key == "Fn::Or":
            return any(self.value(item) for item in arg)
        if key == "Condition":
            return self.condition(str(arg))
        return {key: self.value(arg)}
