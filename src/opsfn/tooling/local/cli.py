"""``opsfn local`` and ``opsfn local fire NAME``."""

from __future__ import annotations

import argparse
from typing import Any

from opsfn.tooling.app_option import add_app_argument

DEFAULT_URL = "http://127.0.0.1:3000"


def cmd_local(args: argparse.Namespace) -> int:
    """Run the local stack until interrupted (or fire a schedule on a running one)."""
    if args.local_command == "fire":
        from opsfn.tooling.local.client import fire_local

        return fire_local(args.name, args.url)
    from opsfn.tooling.local.run import run_local

    return run_local(args)


def register(subparsers: Any) -> None:
    """Add ``opsfn local`` (run) and ``opsfn local fire NAME``."""
    local = subparsers.add_parser("local", help="run the whole stack locally (moto, no Docker)")
    local.add_argument("--port", type=int, default=3000, help="HTTP port (default 3000)")
    local.add_argument("--host", default="127.0.0.1", help="bind address (default loopback)")
    local.add_argument("--moto-port", type=int, default=5000,
                       help="port of the embedded moto server (default 5000, 0 = any)")
    local.add_argument("--endpoint-url", help="use this AWS emulator instead of embedded moto")
    local.add_argument("--template", help="SAM template (default infra/template.yaml)")
    local.add_argument("--parameter", action="append", default=[], metavar="Name=Value",
                       help="template parameter override (repeatable)")
    local.add_argument("--state-dir", default=".opsfn-local",
                       help="local files (the emulated EFS mount) go here")
    local.add_argument("--no-schedules", action="store_true",
                       help="do not fire rate() schedules on their own (fire them by hand)")
    local.add_argument("--static", action="append", default=[], metavar="DIR[:PATH]",
                       help="serve the files of DIR under the URL path PATH (default /), same "
                            "origin as the API (repeatable)")
    local.add_argument("--async-retry-seconds", type=float, default=1.0, metavar="SECONDS",
                       help="a failed asynchronous invocation is retried after this and twice "
                            "this (Lambda: about 1 and 2 minutes); default 1")
    local.add_argument("--in-process", action="store_true",
                       help="call the handler in this process, one event at a time, instead of "
                            "in execution environments of its own under awslambdaric")
    local.add_argument("--visibility-timeout", type=int, default=30, metavar="SECONDS",
                       help="visibility timeout of the template's queues: a failed message is "
                            "received again after it (default 30)")
    add_app_argument(local)
    local.set_defaults(func=cmd_local, local_command="run")
    sub = local.add_subparsers(dest="local_command")
    fire = sub.add_parser("fire", help="fire a schedule on the running local stack")
    fire.add_argument("name")
    fire.add_argument("--url", default=DEFAULT_URL)
    fire.set_defaults(func=cmd_local)
