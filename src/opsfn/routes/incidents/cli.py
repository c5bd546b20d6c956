"""``opsfn incident-targets FILE``: check an incident targets document before it is deployed.

Operators keep the targets JSON in a file or an SSM parameter; a typo there only shows when an
incident fires. This validates the document with the same model the actions use and prints one
line per target, or the field paths that are wrong (exit status 2).
"""

from __future__ import annotations

import argparse
from typing import Any

from opsfn.lazy import load


def cmd_incident_targets(args: argparse.Namespace) -> int:
    """Validate the document and print the targets; the work loads only for this command."""
    return int(load("opsfn.routes.incidents.targets_check:cmd_incident_targets")(args))


def register(subparsers: Any) -> None:
    """Add the operations sub-commands to the ``opsfn`` parser."""
    parser = subparsers.add_parser(
        "incident-targets", help="validate an incident targets JSON document (file or '-')",
    )
    parser.add_argument("file", help="path of the JSON document, or - for standard input")
    parser.set_defaults(func=cmd_incident_targets)
