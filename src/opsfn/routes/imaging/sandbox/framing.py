"""Length-prefixed frames over a pipe: 8-byte big-endian length, then the payload.

Small and explicit so that the parent (which trusts nothing the child says) can bound every frame
before reading it, and so that large payloads are written without being copied into one buffer.
"""

from __future__ import annotations

import json
import os
import struct
from typing import Any, BinaryIO

PREFIX = struct.Struct(">Q")
HEADER_MAX = 1 << 20  # a JSON header is never larger than this


class FrameError(ValueError):
    """The stream does not hold the frames it should (truncated, oversized or not JSON)."""


def prefix(size: int) -> bytes:
    """The length prefix of a payload of ``size`` bytes."""
    return PREFIX.pack(size)


def header(value: dict[str, Any]) -> list[bytes]:
    """A JSON object as a frame (prefix and payload)."""
    payload = json.dumps(value, separators=(",", ":")).encode()
    return [prefix(len(payload)), payload]


def blob(*parts: bytes) -> list[bytes]:
    """Bytes given in pieces as one frame, without joining them."""
    return [prefix(sum(len(part) for part in parts)), *parts]


def write_all(fd: int, parts: list[bytes]) -> None:
    """Write every part to a blocking descriptor (the child's side)."""
    for part in parts:
        view = memoryview(part)
        while view:
            view = view[os.write(fd, view):]


def read_exact(stream: BinaryIO, size: int) -> bytes:
    """Exactly ``size`` bytes from a buffered blocking stream (which reads a large request
    straight into the one bytes object it returns); FrameError when the stream ends first."""
    data = stream.read(size)
    if len(data) != size:
        raise FrameError("the stream ended inside a frame")
    return data


def read_frame(stream: BinaryIO, limit: int) -> bytes:
    """One frame's payload, refusing one longer than ``limit``."""
    size = PREFIX.unpack(read_exact(stream, PREFIX.size))[0]
    if size > limit:
        raise FrameError("a frame is larger than its limit")
    return read_exact(stream, size)


def parse_header(payload: bytes) -> dict[str, Any]:
    """A header frame's JSON object; FrameError for anything else."""
    try:
        value = json.loads(payload)
    except ValueError:
        raise FrameError("a header frame is not JSON") from None
    if not isinstance(value, dict):
        raise FrameError("a header frame is not a JSON object")
    return value


def split(stream: bytes | bytearray, limit: int, max_frames: int) -> list[bytes]:
    """Every frame of a complete stream, each at most ``limit`` bytes and at most ``max_frames``
    of them; FrameError when the stream is cut inside a frame or breaks a bound."""
    view = memoryview(stream)
    frames: list[bytes] = []
    offset = 0
    while offset < len(view):
        if len(frames) == max_frames:
            raise FrameError("the stream holds more frames than expected")
        if len(view) - offset < PREFIX.size:
            raise FrameError("the stream ended inside a frame")
        size = PREFIX.unpack_from(view, offset)[0]
        offset += PREFIX.size
        if size > limit or size > len(view) - offset:
            raise FrameError("a frame is larger than its limit or the stream")
        frames.append(bytes(view[offset:offset + size]))
        offset += size
    return frames
