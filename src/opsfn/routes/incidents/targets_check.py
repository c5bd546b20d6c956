"""``opsfn incident-targets``' work: the document validated with the actions' own model.

Apart from the command's declaration (:mod:`.cli`) so that building the ``opsfn`` parser does not
import pydantic and the targets model for every command.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from pydantic import ValidationError

from opsfn.routes.incidents.targets import targets_adapter


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
