"""``opsfn local`` and ``opsfn local fire NAME``."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

DEFAULT_URL = "http://127.0.0.1:3000"


def _log(message: str) -> None:
    sys.stdout.write(f"{time.strftime('%H:%M:%S')} | {message}\n")
    sys.stdout.flush()


def _port_free(host: str, port: int) -> bool:
    """Whether ``port`` can be bound (moto's server thread hangs instead of failing when not)."""
    import socket

    if port == 0:
        return True
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _parameters(pairs: list[str]) -> dict[str, str]:
    values = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--parameter expects Name=Value, got {pair!r}")
        values[key] = value
    return values


def _prepare_environment() -> str:
    """Fake credentials and a region unless given; quiet moto; returns the region."""
    import logging

    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(key, "local")
    region = os.environ.setdefault("AWS_REGION", "us-east-1")
    os.environ.setdefault("AWS_DEFAULT_REGION", region)
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's access log
    return region


def _start_moto(host: str, port: int) -> tuple[Any, str]:
    """The embedded moto server and its endpoint URL."""
    from moto.server import ThreadedMotoServer

    moto = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    moto.start()
    bound_host, bound_port = moto.get_host_and_port()
    endpoint = f"http://{bound_host}:{bound_port}"
    _log(f"moto server on {endpoint}")
    return moto, endpoint


def _serve_until_stopped(stack: Any, server: Any, base: str) -> None:
    """Create everything, serve, and return on SIGINT/SIGTERM (everything stopped)."""
    stopping = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    serving = False
    try:
        env = stack.start()
        threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
        serving = True
        _log("environment: " + ", ".join(f"{k}={v}" for k, v in sorted(env.items())))
        stack.create_custom_resources(base)
        stack.ready = True
        _log(f"opsfn local ready: {base}/ (upload page), API and Lambda API on {base} "
             f"(function {stack.function_name}), Ctrl-C to stop")
        while not stopping.wait(0.5):
            pass
    finally:
        _log("stopping")
        if serving:
            server.shutdown()
        server.server_close()
        stack.stop()


def _lambda_mode(reference: str | None, state_dir: Path) -> Any:
    """The out-of-process function's parts, or None (said why) to run it in this process."""
    from opsfn.tooling.local.lambda_mode import prepare
    from opsfn.tooling.local.lambda_python import RuntimeUnavailable

    try:
        return prepare(reference, _log, state_dir)
    except RuntimeUnavailable as why:
        _log(f"the function runs in this process (--in-process): {why}")
        return None


def cmd_local(args: argparse.Namespace) -> int:
    """Run the local stack until interrupted (or fire a schedule on a running one)."""
    if args.local_command == "fire":
        from opsfn.tooling.local.client import fire_local

        return fire_local(args.name, args.url)
    from opsfn.tooling.app_option import app_reference, load_app
    from opsfn.tooling.infra_check import default_template
    from opsfn.tooling.local.server import make_server
    from opsfn.tooling.local.stack import LocalStack
    from opsfn.tooling.local.static_mounts import parse_mount

    try:
        mounts = [parse_mount(value) for value in args.static]
    except ValueError as error:
        sys.stderr.write(f"error: {error}\n")
        return 2
    app = load_app(args)
    template = Path(args.template) if args.template else default_template()
    if not template.is_file():
        sys.stderr.write(f"error: no SAM template at {template}; run from the source checkout or "
                         "give --template infra/template.yaml\n")
        return 2
    region = _prepare_environment()
    if args.endpoint_url is None and not _port_free(args.host, args.moto_port):
        sys.stderr.write(f"error: port {args.moto_port} is in use; give --moto-port 0 (any free "
                         "port) or another number\n")
        return 2
    reference = app_reference(args)
    mode = None if args.in_process else _lambda_mode(reference, Path(args.state_dir))
    stack = LocalStack(template, args.endpoint_url or "", region=region,
                       parameters=_parameters(args.parameter), schedules=not args.no_schedules,
                       log=_log, state_dir=Path(args.state_dir), app=app,
                       retry_seconds=args.async_retry_seconds,
                       visibility_timeout=args.visibility_timeout,
                       runtime_factory=mode.factory if mode else None, app_reference=reference)
    try:
        server = make_server(stack, args.host, args.port, mounts)
    except OSError as exc:
        sys.stderr.write(f"error: cannot serve on {args.host}:{args.port} ({exc.strerror}); "
                         "give --port\n")
        return 2
    moto = None
    if args.endpoint_url is None:
        moto, stack.endpoint_url = _start_moto(args.host, args.moto_port)
    try:
        _serve_until_stopped(stack, server, f"http://{args.host}:{server.server_address[1]}")
    finally:
        if moto is not None:
            moto.stop()
        if mode is not None:
            mode.close()
        _log("stopped")
    return 0


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
    from opsfn.tooling.app_option import add_app_argument

    add_app_argument(local)
    local.set_defaults(func=cmd_local, local_command="run")
    sub = local.add_subparsers(dest="local_command")
    fire = sub.add_parser("fire", help="fire a schedule on the running local stack")
    fire.add_argument("name")
    fire.add_argument("--url", default=DEFAULT_URL)
    fire.set_defaults(func=cmd_local)
