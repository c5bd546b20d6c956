"""IAM statements of access declarations, with every setting resolved to its value.

Where the values are known (the environment of a running function, the variables a CDK construct
sets), a grant becomes a plain statement: its resources' ARNs filled in, its condition's
placeholders too. A grant whose ``if_set`` settings are all unset, or a resource whose setting is
unset, is left out: the feature it serves is off, so nothing is granted for it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from opsfn.core.access import ARN_FORMS, PLACEHOLDER, PSEUDO, Grant, Resource

Lookup = Callable[[str], str | None]
"""A setting's value (None: unset)."""


def _name(kind: str, value: str) -> str:
    """The bare name a setting's value gives for ``kind`` (it may hold an ARN or a URL)."""
    if kind == "bucket":
        return value.rsplit(":", 1)[-1]
    if kind == "queue":
        return value.rsplit(":", 1)[-1].rsplit("/", 1)[-1]
    if kind == "parameter":
        return value.lstrip("/")
    return value


def domain(value: str) -> str:
    """The domain of an address."""
    return value.rsplit("@", 1)[-1]


FILTERS: dict[str, Callable[[str], str]] = {"domain": domain}


class _Unset(Exception):
    """A placeholder names a setting that is not set."""


class Resolver:
    """Fills in declarations from setting values, an optional table of ARNs and the account."""

    def __init__(self, values: Lookup, pseudo: Mapping[str, str], arns: Lookup | None = None,
                 filters: Mapping[str, Callable[[str], str]] | None = None,
                 defaults: Lookup | None = None) -> None:
        fallback = defaults or (lambda _name: None)
        self.values: Lookup = lambda name: values(name) or fallback(name)
        self.pseudo = pseudo
        self.arns = arns or (lambda _name: None)
        self.filters = {**FILTERS, **(filters or {})}

    def _value(self, setting: str) -> str:
        found = self.values(setting)
        if not found:
            raise _Unset(setting)
        return found

    def text(self, template: str) -> str:
        """``template`` with its ``{SETTING}`` and ``{region}``-style parts filled in."""
        def part(match: re.Match[str]) -> str:
            name, kind = match.group(1), match.group(2) or ""
            if name in PSEUDO:
                return self.pseudo[name]
            value = self._value(name)
            return self.filters[kind](value) if kind else value

        return PLACEHOLDER.sub(part, template)

    def arns_of(self, resource: Resource) -> list[str]:
        """The ARNs of one declared resource (a setting holding ARNs may list several, with
        commas: the keys of several secrets)."""
        if resource.kind == "any":
            return ["*"]
        if resource.kind == "pattern":
            return [self.text(resource.suffix)]
        assert resource.setting is not None
        suffix = self.text(resource.suffix)
        known = self.arns(resource.setting)
        if known:
            return [known + suffix]
        value = self._value(resource.setting)
        if resource.kind == "arn" or (resource.kind == "secret" and value.startswith("arn:")):
            return [part.strip() + suffix for part in value.split(",") if part.strip()]
        form = ARN_FORMS[resource.kind]
        return [self.text(form.replace("{name}", "{__name__}")).replace(
            "{__name__}", _name(resource.kind, value)) + suffix]

    def statement(self, grant: Grant) -> dict[str, Any] | None:
        """The grant as a statement, or None when what it needs is not set."""
        if grant.if_set and not any(self.values(s) for s in grant.if_set):
            return None
        resources: list[str] = []
        for resource in grant.resources:
            try:
                resources += [a for a in self.arns_of(resource) if a not in resources]
            except _Unset:
                continue
        if not resources:
            return None
        body: dict[str, Any] = {"Sid": grant.name} if grant.name else {}
        body |= {"Effect": "Allow", "Action": list(grant.actions), "Resource": resources}
        if grant.condition:
            try:
                block: dict[str, dict[str, str]] = {}
                for operator, key, value in grant.condition:
                    block.setdefault(operator, {})[key] = self.text(value)
            except _Unset:
                return None
            body["Condition"] = block
        return body


def statements(grants: Iterable[Grant], resolver: Resolver) -> list[dict[str, Any]]:
    """The statements of ``grants`` (those whose settings are set), same-named ones merged."""
    found: list[dict[str, Any]] = []
    for grant in grants:
        made = resolver.statement(grant)
        if made is None:
            continue
        same = next((s for s in found if s.get("Sid") and s.get("Sid") == made.get("Sid")
                     and s.get("Condition") == made.get("Condition")), None)
        if same is None:
            found.append(made)
            continue
        same["Action"] += [a for a in made["Action"] if a not in same["Action"]]
        same["Resource"] += [r for r in made["Resource"] if r not in same["Resource"]]
    for statement in found:  # one action or resource is written alone, as IAM shows it
        for key in ("Action", "Resource"):
            if len(statement[key]) == 1:
                statement[key] = statement[key][0]
    return found
