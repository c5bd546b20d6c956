"""The ``opsfn`` command: inspect routes, explain events, invoke actions, print schemas.

Domains add their own sub-commands (``dicom2png``, ``smtp-password``, ``sync``, ``local``,
``package``) through a ``register(subparsers)`` function: each domain's ``cli`` module, then the
tooling's (TOOLING_COMMANDS).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from opsfn import __version__
from opsfn.core.settings import core_settings, invalid_settings, setting_variables
from opsfn.errors import OpsfnError
from opsfn.lazy import load
from opsfn.routes import command_modules
from opsfn.services import aws
from opsfn.tooling.app_option import add_app_argument, load_app

# Modules adding commands through ``register(subparsers)``: every domain's that has commands
# (opsfn.routes.DECLARED), then the tooling's.
TOOLING_COMMANDS = (
    "opsfn.tooling.local.cli",
    "opsfn.tooling.package_command",
    "opsfn.tooling.infra_check",
)


def _app(args: argparse.Namespace) -> Any:
    return load_app(args)


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_payload(payload: str | None, pairs: list[str]) -> dict[str, Any]:
    """``--payload JSON`` merged with ``key=value`` pairs (values parsed as JSON when they can be)."""
    data: dict[str, Any] = {}
    if payload:
        loaded = json.loads(payload)
        if not isinstance(loaded, dict):
            raise SystemExit("--payload must be a JSON object")
        data.update(loaded)
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"expected key=value, got {pair!r}")
        data[key] = _parse_value(value)
    return data


def cmd_routes(args: argparse.Namespace) -> int:
    """Print every route."""
    from opsfn.tooling.introspect import markdown_table, route_rows

    rows = route_rows(_app(args))
    if args.markdown:
        print(markdown_table(rows))
        return 0
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    widths = {c: max(len(c), *(len(r[c]) for r in rows)) for c in rows[0]} if rows else {}
    print("  ".join(c.upper().ljust(w) for c, w in widths.items()))
    for row in rows:
        print("  ".join(row[c].ljust(w) for c, w in widths.items()))
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    """Say which kind an event is and which route would run."""
    from opsfn.tooling.introspect import explain

    text = sys.stdin.read() if args.event == "-" else Path(args.event).read_text()
    try:
        event = json.loads(text)
    except ValueError:
        print("kind: none (the file is not JSON)")
        return 1
    lines = explain(_app(args), event)
    print("\n".join(lines))
    return 0 if not any("none" in line.split(":", 1)[-1][:6] for line in lines[:2]) else 1


def _invoke_remote(function: str, event: dict[str, Any]) -> int:
    reply = aws.client("lambda").invoke(FunctionName=function, InvocationType="RequestResponse",
                                        Payload=json.dumps(event).encode())
    body = json.loads(reply["Payload"].read() or b"null")
    if reply.get("FunctionError"):
        kind = body.get("errorType", "Error") if isinstance(body, dict) else "Error"
        message = body.get("errorMessage", "") if isinstance(body, dict) else str(body)
        print(f"error: {kind}: {message}", file=sys.stderr)
        return 1
    print(json.dumps(body, indent=2, default=str))
    return 0


def cmd_invoke(args: argparse.Namespace) -> int:
    """Run an action in process, on a deployed function, or on the running local stack."""
    event = {"action": args.action, **parse_payload(args.payload, args.pairs)}
    if args.function:
        return _invoke_remote(args.function, event)
    if args.local:
        from opsfn.tooling.local.client import invoke_local

        return invoke_local(event, args.local_url)
    from opsfn.testing import FakeLambdaContext

    try:
        result = _app(args)(event, FakeLambdaContext(900_000))
    except OpsfnError as error:
        print(f"error: {type(error).__name__}: {error.message}", file=sys.stderr)
        for detail in error.details:
            print(f"  {detail.get('loc')}: {detail.get('msg')}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2, default=str))
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    """JSON Schema of action inputs."""
    from opsfn.tooling.introspect import action_schemas

    try:
        schemas = action_schemas(_app(args), args.action)
    except OpsfnError as error:
        print(f"error: {error.message}", file=sys.stderr)
        return 1
    print(json.dumps(schemas[args.action] if args.action else schemas, indent=2))
    return 0


def cmd_openapi(args: argparse.Namespace) -> int:
    """OpenAPI 3 for the HTTP routes."""
    from opsfn.tooling.introspect import openapi

    print(json.dumps(openapi(_app(args), __version__, core_settings().default_auth), indent=2))
    return 0


def cmd_settings(args: argparse.Namespace) -> int:
    """Every environment variable with its default and meaning; ``--check`` the current values."""
    _app(args)  # importing the application registers its own settings sections
    if args.check:
        bad = invalid_settings()
        for name in bad:
            print(f"invalid: {name}", file=sys.stderr)
        return 1 if bad else 0
    rows = setting_variables()
    if args.markdown:
        print("| variable | default | meaning |\n|---|---|---|")
        for name, default, description in rows:
            print(f"| `{name}` | {f'`{default}`' if default else '-'} | {description} |")
        return 0
    for name, default, description in rows:
        print(f"{name:32} {default:12} {description}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, with every extension's sub-commands."""
    parser = argparse.ArgumentParser(prog="opsfn", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    routes = sub.add_parser("routes", help="table of every route")
    routes.add_argument("--markdown", action="store_true")
    routes.add_argument("--json", action="store_true")
    add_app_argument(routes)
    routes.set_defaults(func=cmd_routes)

    explain = sub.add_parser("explain", help="which kind an event is and which route would run")
    explain.add_argument("event", help="a JSON file (or - for standard input)")
    add_app_argument(explain)
    explain.set_defaults(func=cmd_explain)

    invoke = sub.add_parser("invoke", help="run an action")
    invoke.add_argument("action")
    invoke.add_argument("pairs", nargs="*", metavar="key=value")
    invoke.add_argument("--payload", help="the payload as a JSON object")
    invoke.add_argument("--function", help="name or ARN of a deployed function to invoke")
    invoke.add_argument("--local", action="store_true", help="send it to the running local stack")
    invoke.add_argument("--local-url", default="http://127.0.0.1:3000")
    add_app_argument(invoke)
    invoke.set_defaults(func=cmd_invoke)

    schema = sub.add_parser("schema", help="JSON Schema of action inputs")
    schema.add_argument("action", nargs="?")
    add_app_argument(schema)
    schema.set_defaults(func=cmd_schema)

    api = sub.add_parser("openapi", help="OpenAPI 3 document of the HTTP routes")
    add_app_argument(api)
    api.set_defaults(func=cmd_openapi)

    settings = sub.add_parser("settings", help="every environment variable")
    settings.add_argument("--markdown", action="store_true")
    settings.add_argument("--check", action="store_true",
                          help="exit 1 naming every variable whose current value does not parse")
    add_app_argument(settings)
    settings.set_defaults(func=cmd_settings)

    for module_name in [*command_modules(), *TOOLING_COMMANDS]:
        try:
            module = load(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                continue  # that domain is not part of this build
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``opsfn`` console script."""
    if not os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")  # no EMF noise in a terminal
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
