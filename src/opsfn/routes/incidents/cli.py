"""``opsfn incident-targets FILE``: check an incident targets document before it is deployed.

Operators keep the targets JSON in a file or an SSM parameter; a typo there only shows when an
incident fires. This validates the document with the same model the actions use and prints one
line per target, or the field paths that are wrong (exit status 2).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def describe(name: str, target: Any) -> str:
    """One line: name, kind and the resource it points at."""
    kind = target.kind
    if kind == "ecs":
        where = f"{target.cluster}/{target.service} (max {target.max_count})"
    elif kind == "ec2":
        where = ",".join(target.instance_ids)
    elif kind == "rds_instance":
        where = target.instance_id
    elif kind == "rds_cluster":
        where = target.cluster_id
    elif kind == "elasticache":
        where = f"{target.replication_group_id} (scale {target.scale_by}, clear {target.clear_strategy})"
    else:
        where = f"{target.redis.host}:{target.redis.port}"
    return f"{name}\t{kind}\t{where}"


def cmd_incident_targets(args: argparse.Namespace) -> int:
    """Validate the document and print the targets."""
    from pydantic import ValidationError

    from opsfn.routes.incidents.targets import targets_adapter

    text = sys.stdin.read() if args.file == "-" else open(args.file, encoding="utf-8").read()  # noqa: PTH123, SIM115
    try:
        targets = targets_adapter().validate_python(json.loads(text))
    except ValueError as exc:
        problems = [(".".join(str(part) for part in error["loc"]), error["msg"])
                    for error in exc.errors(include_input=False)] if isinstance(
            exc, ValidationError) else [("", "not valid JSON")]
        for loc, msg in problems:
            print(f"error: {loc or '(document)'}: {msg}", file=sys.stderr)  # noqa: T201
        return 2
    for name in sorted(targets):
        print(describe(name, targets[name]))  # noqa: T201
    return 0


def register(subparsers: Any) -> None:
    """Add the operations sub-commands to the ``opsfn`` parser."""
    parser = subparsers.add_parser(
        "incident-targets", help="validate an incident targets JSON document (file or '-')",
    )
    parser.add_argument("file", help="path of the JSON document, or - for standard input")
    parser.set_defaults(func=cmd_incident_targets)
