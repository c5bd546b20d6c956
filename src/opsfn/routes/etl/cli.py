"""``opsfn landing-check FILE...``: the check landed files get, run on local files first.

The ETL trigger quarantines a landing file that is not FHIR (with the reason and the first bad
entry's index or line). Generators and operators can run the same streaming check before they
upload: a file is taken as JSON or NDJSON by the configured suffixes, exactly as the route does.
Exit status 1 when any file would be quarantined, 2 when a file is of neither format.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from opsfn.routes.etl import landing, validate
from opsfn.routes.etl.settings import EtlSettings

CHUNK_BYTES = 1024 * 1024


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            yield chunk


def check_file(path: Path) -> tuple[str, int]:
    """The line to print for ``path`` and its exit status (0 fine, 1 quarantined, 2 not a landing
    file by its suffix)."""
    settings = EtlSettings.current()
    found = landing.file_format(settings.landing_prefix + path.name, settings)
    if found is None:
        return f"{path}: not a landing file by its suffix (LANDING_JSON_SUFFIXES, " \
               "LANDING_NDJSON_SUFFIXES)", 2
    layout, _ = found
    check = validate.check_ndjson if layout == landing.NDJSON else validate.check_json
    verdict = check(_chunks(path), settings.landing_max_bytes)
    if verdict.reason is None:
        return f"{path}: ok, {verdict.layout} of {verdict.resources} resource(s)", 0
    position = landing.where(verdict)
    return f"{path}: quarantined: {verdict.reason}" + (f" at {position}" if position else ""), 1


def cmd_landing_check(args: argparse.Namespace) -> int:
    """Check every file; the worst status wins."""
    status = 0
    for path in args.files:
        line, code = check_file(path)
        print(line)  # noqa: T201
        status = max(status, code)
    return status


def register(subparsers: Any) -> None:
    """Add ``landing-check`` to the ``opsfn`` command."""
    parser = subparsers.add_parser(
        "landing-check", help="check FHIR landing files as the ETL trigger will (JSON, NDJSON)")
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE")
    parser.set_defaults(func=cmd_landing_check)
