"""``opsfn local``: the whole stack in this process (moto, the HTTP server, the function's
execution environments) until interrupted.

Imported by :func:`opsfn.tooling.local.cli.cmd_local` when the command runs, so that ``opsfn
--help`` and the other commands do not load the local stack.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from opsfn.tooling.app_option import app_reference, load_app
from opsfn.tooling.infra_check import default_template
from opsfn.tooling.local.lambda_mode import prepare
from opsfn.tooling.local.lambda_python import RuntimeUnavailable
from opsfn.tooling.local.server import make_server
from opsfn.tooling.local.stack import LocalStack
from opsfn.tooling.local.static_mounts import parse_mount


def _log(message: str) -> None:
    sys.stdout.write(f"{time.strftime('%H:%M:%S')} | {message}\n")
    sys.stdout.flush()


def _port_free(host: str, port: int) -> bool:
    """Whether ``port`` can be bound (moto's server thread hangs instead of failing when not)."""
    if port == 0:
        return True
    import socket

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
    try:
        return prepare(reference, _log, state_dir)
    except RuntimeUnavailable as why:
        _log(f"the function runs in this process (--in-process): {why}")
        return None


def run_local(args: argparse.Namespace) -> int:
    """Run the local stack until interrupted."""
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
