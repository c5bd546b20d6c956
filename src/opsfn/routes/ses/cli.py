"""``opsfn smtp-password --region REGION``: an IAM secret access key on stdin, the SMTP password out.

The key is read from standard input (never an argument, which would land in shell history and
the process list) and only the password is printed.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from opsfn.routes.ses.settings import SesSettings
from opsfn.routes.ses.smtp_password import UnsupportedRegion, smtp_password


def cmd_smtp_password(args: argparse.Namespace) -> int:
    """Print the SES SMTP password of the key on standard input."""
    secret_key = sys.stdin.read().strip()
    if not secret_key:
        print("error: no secret access key on standard input", file=sys.stderr)  # noqa: T201
        return 2
    try:
        password = smtp_password(secret_key, args.region,
                                 extra_regions=SesSettings.current().smtp_extra_regions)
    except UnsupportedRegion as exc:
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    print(password)  # noqa: T201
    return 0


def register(subparsers: Any) -> None:
    """Add the platform sub-commands to the ``opsfn`` parser."""
    parser = subparsers.add_parser(
        "smtp-password", help="SES SMTP password of an IAM secret access key read from stdin",
    )
    parser.add_argument("--region", required=True, help="region of the SES SMTP endpoint")
    parser.set_defaults(func=cmd_smtp_password)
