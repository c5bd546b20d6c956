"""``opsfn dicom2png IN.dcm OUT.png``: the pipeline's renderer for people, same path as the route."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from opsfn.errors import InvalidContent
from opsfn.routes.imaging.sandbox.protocol import Job
from opsfn.routes.imaging.settings import ImagingSettings


def cmd_dicom2png(args: argparse.Namespace) -> int:
    """Render the first frame of IN to OUT; exit 1 with the reason when it cannot.

    The file is decoded by the same sandbox child as uploads (no AWS credentials, resource
    limits; ``IMAGING_SANDBOX``), since a file given to this command may come from anyone too.
    The PNG is written to a temporary file next to OUT and renamed at the end, so a failure never
    leaves half a file behind.
    """
    from opsfn.routes.imaging.sandbox import client

    output = Path(args.output)
    try:
        data = Path(args.input).read_bytes()
        decoded = client.decode(data, Job("dicom", args.max_pixel_bytes, args.max_frame_pixels),
                                keep_spare=False)
    except InvalidContent as exc:
        sys.stderr.write(f"error: {exc.message}\n")
        return 1
    except OSError as exc:
        sys.stderr.write(f"error: {exc.strerror}: {exc.filename or args.input}\n")
        return 1
    assert decoded.image is not None  # a DICOM reply always carries its rendering
    handle, temporary = tempfile.mkstemp(prefix=".dicom2png-", dir=output.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(decoded.image)
        umask = os.umask(0)
        os.umask(umask)
        Path(temporary).chmod(0o666 & ~umask)
        Path(temporary).replace(output)
    except OSError as exc:
        sys.stderr.write(f"error: {exc.strerror}: {exc.filename or args.output}\n")
        return 1
    finally:
        Path(temporary).unlink(missing_ok=True)
    if args.verbose:
        info = {k: v for k, v in decoded.metadata.items() if k not in ("width", "height")}
        sys.stderr.write(f"{decoded.width}x{decoded.height} {info}\n")
    return 0


def register(subparsers: Any) -> None:
    """Add ``dicom2png`` to the ``opsfn`` command."""
    fields = ImagingSettings.fields()
    parser = subparsers.add_parser(
        "dicom2png", help="render a DICOM file's first frame to PNG (like dcm2pnm +on)")
    parser.add_argument("input", type=Path, metavar="IN.dcm")
    parser.add_argument("output", type=Path, metavar="OUT.png")
    parser.add_argument("--max-pixel-bytes", type=int,
                        default=fields["imaging_max_pixel_bytes"].default,
                        help="refuse larger declared pixel data (bytes)")
    parser.add_argument("--max-frame-pixels", type=int,
                        default=fields["imaging_max_frame_pixels"].default,
                        help="refuse frames with more pixels")
    parser.add_argument("-v", "--verbose", action="store_true", help="print size and metadata")
    parser.set_defaults(func=cmd_dicom2png)
