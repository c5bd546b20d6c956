"""``opsfn package``: the built-in function's zip (:mod:`opsfn.tooling.packaging`) or, with
``--app``, an application's own project and opsfn in one zip (:mod:`opsfn.tooling.app_package`).

The command sits above both so that neither imports the other back: ``app_package`` builds with
``packaging``'s functions. ``python -m opsfn.tooling.packaging`` (infra/Makefile) runs :func:`main`.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path
from typing import Any

from opsfn.tooling.app_option import add_app_argument, app_reference
from opsfn.tooling.app_package import build_app
from opsfn.tooling.packaging import ARCHES, RUNTIME_PYTHON, PackageError, build


def cmd_package(args: argparse.Namespace) -> int:
    """Build and report sizes; exit 1 on failure or when over a limit."""

    def say(message: str) -> None:
        sys.stderr.write(f"opsfn package: {message}\n")

    reference = app_reference(args)
    options: dict[str, Any] = {
        "python_version": args.python_version,
        "output": Path(args.output) if args.output else None,
        "tree_dir": Path(args.tree).resolve() if args.tree else None,
        "compile_with": args.compile_with, "bytecode": not args.no_bytecode,
        "make_zip": not args.no_zip, "with_sdk": args.with_sdk, "log": say}
    try:
        if reference is not None:  # an application's own project, with opsfn
            built = build_app(reference, args.arch, **options)
        else:
            built = build(args.arch, for_s3=args.for_s3, **options)
    except (PackageError, subprocess.CalledProcessError) as error:
        say(f"error: {error}")
        return 1
    where = built.zip_path or built.tree
    zipped = f"{built.zipped_bytes / 2**20:8.1f} MiB (limit 50)" if built.zip_path else "     n/a"
    sys.stdout.write(f"{where}\n  zipped:   {zipped}\n"
                     f"  unzipped: {built.unzipped_bytes / 2**20:8.1f} MiB (limit 250)\n"
                     f"  files:    {built.files:8d}\n  bytecode: "
                     f"{'yes (' + str(built.interpreter) + ')' if built.compiled else 'no'}\n")
    return 0


def register(subparsers: Any) -> None:
    """Add ``opsfn package``."""
    parser = subparsers.add_parser("package", help="build dist/opsfn-lambda-<arch>.zip without Docker")
    parser.add_argument("--arch", choices=sorted(ARCHES), default="arm64")
    parser.add_argument("--python-version", default=RUNTIME_PYTHON,
                        help="target runtime's Python (default 3.13, the template's runtime)")
    parser.add_argument("--output", help="zip path (default ./dist/opsfn-lambda-<arch>.zip)")
    parser.add_argument("--tree", help="also keep the unzipped tree here (sam build's ARTIFACTS_DIR)")
    parser.add_argument("--no-zip", action="store_true", help="only the tree (with --tree)")
    parser.add_argument("--with-sdk", action="store_true",
                        help="bundle boto3/botocore instead of using the runtime's copy")
    parser.add_argument("--for-s3", action="store_true",
                        help="the zip is uploaded through S3: no 50 MiB direct-upload check")
    parser.add_argument("--compile-with", help="interpreter of the target version for .pyc files "
                                               "(default: found on PATH, in pyenv or uv)")
    parser.add_argument("--no-bytecode", action="store_true",
                        help="ship no .pyc (slower cold starts); without it a build with no "
                             "interpreter of the target version fails")
    parser.add_argument("--require-bytecode", action="store_true", help=argparse.SUPPRESS)
    add_app_argument(parser)  # an application's own project: see opsfn.tooling.app_package
    parser.set_defaults(func=cmd_package)


def main(argv: list[str]) -> int:
    """``opsfn package ARGV`` without the rest of the CLI (``python -m opsfn.tooling.packaging``)."""
    parser = argparse.ArgumentParser(prog="opsfn")
    register(parser.add_subparsers(dest="command", required=True))
    return cmd_package(parser.parse_args(["package", *argv]))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main(sys.argv[1:]))
