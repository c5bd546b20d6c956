"""CloudFormation YAML out: intrinsic functions in their short form (``!Ref X``, ``!Sub``), as
people write templates, so a generated template reads like the hand-written one it replaces."""

from __future__ import annotations

from typing import Any

from opsfn.lazy import load

_SCALAR_TAGS = ("Ref", "Condition", "Fn::GetAtt", "Fn::Sub", "Fn::ImportValue", "Fn::Base64",
                "Fn::GetAZs")


def dumps(template: dict[str, Any], header: str = "") -> str:
    """``template`` as YAML text, with ``header`` as leading comment lines."""
    yaml: Any = load("yaml")  # PyYAML: a dependency of cfn-lint and moto
    def choose_scalar_style(emitter: Any) -> str:
        event = emitter.event
        if event.tag and event.tag.startswith("!") and not event.style:
            if emitter.analysis is None:
                emitter.analysis = emitter.analyze_scalar(event.value)
            analysis = emitter.analysis
            if analysis.allow_flow_plain and analysis.allow_block_plain and not analysis.empty \
                    and not analysis.multiline:
                return ""  # !Ref Name, not !Ref 'Name'
        return str(yaml.SafeDumper.choose_scalar_style(emitter))

    dumper: Any = type("CfnDumper", (yaml.SafeDumper,),
                       {"choose_scalar_style": choose_scalar_style})

    def represent_dict(representer: Any, data: dict[str, Any]) -> Any:
        if len(data) == 1:
            (key, value), = data.items()
            if key in ("Ref", "Condition") or key.startswith("Fn::"):
                tag = "!" + key.removeprefix("Fn::")
                if key == "Fn::GetAtt" and isinstance(value, list) and len(value) == 2 \
                        and all(isinstance(v, str) for v in value):
                    return representer.represent_scalar(tag, ".".join(value))
                if isinstance(value, str) and key in _SCALAR_TAGS:
                    return representer.represent_scalar(tag, value)
                if isinstance(value, list):
                    return representer.represent_sequence(tag, value)
                if isinstance(value, dict):
                    return representer.represent_mapping(tag, value)
        return representer.represent_mapping("tag:yaml.org,2002:map", data.items())

    def represent_str(representer: Any, data: str) -> Any:
        style = "|" if "\n" in data else None
        return representer.represent_scalar("tag:yaml.org,2002:str", data, style=style)

    def represent_list(representer: Any, data: list[Any]) -> Any:
        short = all(isinstance(item, str | int | float) for item in data) and \
            sum(len(str(item)) + 2 for item in data) < 70
        return representer.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=short)

    dumper.add_representer(dict, represent_dict)
    dumper.add_representer(list, represent_list)
    dumper.add_representer(str, represent_str)
    dumper.ignore_aliases = lambda self, data: True
    body: str = yaml.dump(template, Dumper=dumper, sort_keys=False, width=100,
                     default_flow_style=False, allow_unicode=True)
    lines = "".join(f"# {line}".rstrip() + "\n" for line in header.splitlines())
    return lines + body
