"""IAM policies from the routes' access declarations, one inline policy per domain.

Each grant becomes one statement per resource, named through the settings table (so the ARN is
the one the deployment passes in the setting); statements that differ only in their actions, or
only in their resources, are merged. A statement whose settings are set only under a condition is
kept only under it, and a policy left with no unconditional statement exists only when one of its
conditions holds (IAM refuses an empty policy).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from opsfn.core.access import ARN_FORMS, PLACEHOLDER, PSEUDO, Grant, Resource
from opsfn.core.groups import grants_by_domain
from opsfn.core.router import Route
from opsfn.tooling.generate.sources import NO_VALUE, SettingSource, UnmappedSetting

_PSEUDO_SUB = {"partition": "${AWS::Partition}", "region": "${AWS::Region}",
               "account": "${AWS::AccountId}"}
_ARN_OF = {kind: form.replace("{partition}", "${AWS::Partition}")
           .replace("{region}", "${AWS::Region}").replace("{account}", "${AWS::AccountId}")
           .replace("{name}", "${Name}") for kind, form in ARN_FORMS.items()}

Default = Callable[[str], str | None]
"""A setting's default value, for settings the base leaves unmapped."""


@dataclass(frozen=True, slots=True)
class Rendered:
    """A text with ``${NAME}`` parts, the values of those parts, and the conditions they need."""

    text: str
    values: tuple[tuple[str, Any], ...]
    conditions: frozenset[str]


def _inline(value: Any) -> str | None:
    """``${X}`` for a ``Ref`` and ``${X.Attr}`` for a ``GetAtt``: what a Sub text can say itself."""
    if isinstance(value, dict) and len(value) == 1:
        ref = value.get("Ref")
        if isinstance(ref, str) and not ref.startswith("AWS::"):
            return "${" + ref + "}"
        att = value.get("Fn::GetAtt")
        if isinstance(att, list) and len(att) == 2 and all(isinstance(a, str) for a in att):
            return "${" + ".".join(att) + "}"
    return None


def _filtered(kind: str, value: Any) -> Any:
    if kind == "domain":
        return {"Fn::Select": [1, {"Fn::Split": ["@", value]}]}
    raise ValueError(f"unknown placeholder filter {kind}")


class Namer:
    """Turns settings into template expressions through the settings table.

    ``conditions`` collects the conditions it had to make (one setting of several being set).
    """

    def __init__(self, sources: Mapping[str, SettingSource], default: Default, who: str,
                 conditions: dict[str, Any] | None = None) -> None:
        self.sources = sources
        self.default = default
        self.who = who
        self.conditions = conditions if conditions is not None else {}

    def source(self, setting: str) -> SettingSource:
        found = self.sources.get(setting)
        if found is not None:
            return found
        fallback = self.default(setting)
        if fallback is None:
            raise UnmappedSetting(f"{self.who} names {setting}, which the base template's opsfn "
                                  "settings do not map and which has no default")
        return SettingSource(fallback)

    def text(self, template: str) -> Rendered:
        """``{SETTING}`` and ``{region}``-style parts of ``template`` as a Sub text."""
        values: list[tuple[str, Any]] = []
        conditions: set[str] = set()

        def part(match: Any) -> str:
            name: str = match.group(1)
            kind: str = match.group(2) or ""
            if name in PSEUDO:
                return _PSEUDO_SUB[name]
            found = self.source(name)
            if found.condition:
                conditions.add(found.condition)
            value = found.value
            if kind:
                value = _filtered(kind, value)
                name = kind.title()
            elif isinstance(value, str) and "${" not in value:
                return str(value)  # a literal (a default): written as it is
            inline = _inline(value)
            if inline is not None:
                return inline
            taken = dict(values)
            while name in taken and taken[name] != value:
                name += "X"
            if name not in taken:
                values.append((name, value))
            return "${" + name + "}"

        return Rendered(PLACEHOLDER.sub(part, template), tuple(values), frozenset(conditions))

    def resource(self, resource: Resource) -> Rendered:
        """The ARN (expression) of one declared resource."""
        if resource.kind == "any":
            return Rendered("*", (), frozenset())
        if resource.kind == "pattern":
            return self.text(resource.suffix)
        assert resource.setting is not None
        found = self.source(resource.setting)
        conditions = {found.condition} if found.condition else set()
        suffix = self.text(resource.suffix)
        conditions |= suffix.conditions
        if found.arn is not None or resource.kind == "arn":
            base = found.arn if found.arn is not None else found.value
            head = _inline(base)
            if head is not None:
                return Rendered(head + suffix.text, suffix.values, frozenset(conditions))
            return Rendered("${Arn}" + suffix.text, (("Arn", base), *suffix.values),
                            frozenset(conditions))
        head = _inline(found.value)
        if head is not None:
            return Rendered(_ARN_OF[resource.kind].replace("${Name}", head) + suffix.text,
                            suffix.values, frozenset(conditions))
        return Rendered(_ARN_OF[resource.kind] + suffix.text, (("Name", found.value), *suffix.values),
                        frozenset(conditions))

    def any_set(self, settings: tuple[str, ...]) -> frozenset[str]:
        """The condition that one of ``settings`` is set (none: always set)."""
        names = []
        for setting in settings:
            found = self.source(setting)
            if found.condition is None:
                return frozenset()  # one of them is always set
            names.append(found.condition)
        names = sorted(set(names))
        if len(names) <= 1:
            return frozenset(names)
        made = "Opsfn" + "Or".join(names)
        self.conditions[made] = {"Fn::Or": [{"Condition": n} for n in names]}
        return frozenset({made})


def _arn_expression(rendered: Rendered) -> Any:
    if len(rendered.values) == 1 and rendered.text == "${" + rendered.values[0][0] + "}":
        return rendered.values[0][1]
    if not rendered.values:
        if rendered.text.startswith("${") and rendered.text.endswith("}") \
                and rendered.text.count("${") == 1 and not rendered.text.startswith("${AWS::"):
            inner = rendered.text[2:-1]  # one Ref or GetAtt: say it directly
            return ({"Fn::GetAtt": inner.split(".", 1)} if "." in inner else {"Ref": inner})
        return {"Fn::Sub": rendered.text} if "${" in rendered.text else rendered.text
    return {"Fn::Sub": [rendered.text, dict(rendered.values)]}


@dataclass(slots=True)
class _Statement:
    actions: list[str]
    resources: list[Any]
    condition: Any
    when: tuple[str, ...]  # template conditions (all must hold)
    sid: str


def _condition_block(grant: Grant, namer: Namer) -> tuple[Any, frozenset[str]]:
    if not grant.condition:
        return None, frozenset()
    block: dict[str, dict[str, Any]] = {}
    needs: set[str] = set()
    for operator, key, value in grant.condition:
        rendered = namer.text(value)
        needs |= rendered.conditions
        block.setdefault(operator, {})[key] = _arn_expression(rendered)
    return block, frozenset(needs)


def statements(grants: Iterable[Grant], namer: Namer) -> list[_Statement]:
    """Merged statements of ``grants``, in the order first declared."""
    found: list[_Statement] = []
    for grant in grants:
        block, block_needs = _condition_block(grant, namer)
        feature = namer.any_set(grant.if_set)
        for resource in grant.resources:
            rendered = namer.resource(resource)
            when = tuple(sorted(rendered.conditions | block_needs | feature))
            arn = _arn_expression(rendered)
            same = next((s for s in found if s.resources == [arn] and s.condition == block
                         and s.when == when and s.sid == grant.name), None)
            if same is not None:
                same.actions += [a for a in grant.actions if a not in same.actions]
                continue
            found.append(_Statement(list(grant.actions), [arn], block, when, grant.name))
    merged: list[_Statement] = []
    for statement in found:
        same = next((s for s in merged if sorted(s.actions) == sorted(statement.actions)
                     and s.condition == statement.condition and s.when == statement.when
                     and s.sid == statement.sid), None)
        if same is not None:
            same.resources += [r for r in statement.resources if r not in same.resources]
        else:
            merged.append(statement)
    return merged


def _document(statement: _Statement) -> Any:
    body: dict[str, Any] = {"Sid": statement.sid} if statement.sid else {}
    body |= {"Effect": "Allow",
                            "Action": statement.actions[0] if len(statement.actions) == 1
                            else statement.actions,
                            "Resource": statement.resources[0] if len(statement.resources) == 1
                            else statement.resources}
    if statement.condition:
        body["Condition"] = statement.condition
    value: Any = body
    for condition in reversed(statement.when):
        value = {"Fn::If": [condition, value, NO_VALUE]}
    return value


def policies(routes: Iterable[Route], namer_for: Callable[[str], Namer],
             framework: Iterable[Grant] = ()) -> tuple[list[Any], dict[str, Any]]:
    """One inline policy per domain (``framework`` first), and the conditions they need.

    Returns the ``Policies`` entries and any conditions to add to the template (a policy whose
    statements are all conditional exists only when one of them holds).
    """
    out: list[Any] = []
    conditions: dict[str, Any] = {}
    for domain, grants in grants_by_domain(routes, framework).items():
        if not grants:
            continue
        namer = namer_for(domain)
        found = statements(grants, namer)
        conditions.update(namer.conditions)
        policy = {"PolicyName": domain, "PolicyDocument": {
            "Version": "2012-10-17", "Statement": [_document(s) for s in found]}}
        if all(s.when for s in found):
            whens = sorted({s.when for s in found})
            if len(whens) == 1 and len(whens[0]) == 1:
                name = whens[0][0]  # one condition: the policy follows it
            else:
                name = "Opsfn" + "".join(p.title() for p in domain.replace("_", "-").split("-")) \
                    + "Policy"
                conditions[name] = _any_of([_all_of(list(w)) for w in whens])
            out.append({"Fn::If": [name, policy, NO_VALUE]})
        else:
            out.append(policy)
    return out, conditions


def _all_of(names: list[str]) -> Any:
    refs = [{"Condition": n} for n in names]
    return refs[0] if len(refs) == 1 else {"Fn::And": refs}


def _any_of(parts: list[Any]) -> Any:
    return parts[0] if len(parts) == 1 else {"Fn::Or": parts}
