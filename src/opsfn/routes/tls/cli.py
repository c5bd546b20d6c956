"""``opsfn tls-status [DIR]``: what the web container will find under SSL_DIR, before it starts.

Reads the key and certificate where the container looks for them, says whether they pair, when
the certificate expires and whether the rotation would renew it, and shows each file's owner and
mode (a key readable by others is the finding operators most often miss). It never writes.
Exit status 0 when the material is current and private, 1 otherwise.
"""

from __future__ import annotations

import argparse
import datetime as dt
import stat
from pathlib import Path
from typing import Any

from opsfn.routes.tls import certs
from opsfn.routes.tls.files import read_bytes
from opsfn.routes.tls.layout import Layout
from opsfn.routes.tls.settings import TlsSettings


def _file_line(label: str, path: Path) -> tuple[str, bool]:
    """One line about one file, and whether it is fine (a key must not be readable by others)."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return f"{label:16} missing   {path}", False
    except PermissionError:
        return f"{label:16} no access {path}", False
    mode = stat.S_IMODE(info.st_mode)
    private = not label.endswith("key") or not mode & 0o077
    note = "" if private else "  <- readable by group or others"
    return f"{label:16} {mode:04o} uid={info.st_uid} gid={info.st_gid} {path}{note}", private


def report(root: Path, renew_before_days: int, now: dt.datetime | None = None
           ) -> tuple[list[str], bool]:
    """The status lines of the material under ``root`` and whether all of it is fine."""
    layout = Layout(root)
    lines, fine = [], True
    for label, path in (("key", layout.key), ("cert", layout.cert),
                        ("webserver key", layout.web_key), ("webserver cert", layout.web_cert),
                        ("marker", layout.marker)):
        line, ok = _file_line(label, path)
        lines.append(line)
        fine &= ok
    try:
        cert_pem, key_pem = read_bytes(layout.cert), read_bytes(layout.key)
    except PermissionError:
        lines.append("state            unreadable by this user")
        return lines, False
    moment = now or dt.datetime.now(dt.UTC)
    verdict = certs.assess(cert_pem, key_pem, renew_before=dt.timedelta(days=renew_before_days),
                           now=moment)
    lines.append(f"state            {verdict.state}")
    if verdict.info is not None:
        info = verdict.info
        days = (info.not_after - moment).total_seconds() / 86400
        lines += [f"subject CN       {info.common_name}",
                  f"names            {', '.join(info.subject_alt_names) or '-'}",
                  f"key type         {info.key_type}",
                  f"expires          {info.not_after.isoformat()} ({days:.1f} days)",
                  f"sha256           {info.fingerprint_sha256}"]
    return lines, fine and not verdict.needs_renewal


def cmd_tls_status(args: argparse.Namespace) -> int:
    """Print the report; exit 1 unless the material is current and private."""
    settings = TlsSettings.current()
    root = args.dir or settings.ssl_dir
    if not root:
        print("error: give DIR or set SSL_DIR")  # noqa: T201
        return 2
    lines, fine = report(Path(root), settings.ssl_renew_before_days)
    for line in lines:
        print(line)  # noqa: T201
    return 0 if fine else 1


def register(subparsers: Any) -> None:
    """Add ``tls-status`` to the ``opsfn`` command."""
    parser = subparsers.add_parser(
        "tls-status", help="what the container finds under SSL_DIR: files, modes, expiry")
    parser.add_argument("dir", nargs="?", type=Path, help="the SSL directory (default: SSL_DIR)")
    parser.set_defaults(func=cmd_tls_status)
