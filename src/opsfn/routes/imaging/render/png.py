"""A small PNG writer: 8-bit grey or RGB, non-interlaced, Sub filter, zlib level 1.

Writing the file ourselves lets the renderer hand over rows in blocks (the full 8-bit image never
needs to exist at once, and the encoded file can be streamed to disk) and keeps the encoder's
speed/size trade-off explicit: zlib level 1 is several times faster than the default on large
images, and the Sub filter (each byte minus the one a pixel to its left) both shrinks medical
images by about a quarter and makes level 1 faster still, for a few milliseconds of numpy.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable, Iterator
from typing import Any

SIGNATURE = b"\x89PNG\r\n\x1a\n"
GREY, RGB = 0, 2
_IDAT_BYTES = 1 << 20
_FILTER_SUB = 1


def chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data, CRC of type and data."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(
        ">I", zlib.crc32(data, zlib.crc32(kind)) & 0xFFFFFFFF
    )


def filter_sub(rows: Any, bytes_per_pixel: int) -> bytes:
    """Scanlines of a (rows, row_bytes) uint8 array, each prefixed with filter type 1 (Sub)."""
    import numpy as np

    count, width = rows.shape
    out = np.empty((count, width + 1), dtype=np.uint8)
    out[:, 0] = _FILTER_SUB
    out[:, 1:1 + bytes_per_pixel] = rows[:, :bytes_per_pixel]
    np.subtract(rows[:, bytes_per_pixel:], rows[:, :-bytes_per_pixel],
                out=out[:, 1 + bytes_per_pixel:], dtype=np.uint8, casting="unsafe")
    return out.tobytes()


def encode_chunks(width: int, height: int, colour: int, filtered_blocks: Iterable[bytes],
                  level: int = 1) -> Iterator[bytes]:
    """The PNG file piece by piece, from blocks of already filtered scanlines."""
    if width <= 0 or height <= 0:
        raise ValueError("PNG dimensions must be positive")
    yield SIGNATURE + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0))
    compressor = zlib.compressobj(level)
    pending: list[bytes] = []
    pending_size = 0
    for block in filtered_blocks:
        data = compressor.compress(block)
        if data:
            pending.append(data)
            pending_size += len(data)
        if pending_size >= _IDAT_BYTES:
            yield chunk(b"IDAT", b"".join(pending))
            pending, pending_size = [], 0
    pending.append(compressor.flush())
    yield chunk(b"IDAT", b"".join(pending))
    yield chunk(b"IEND", b"")


def encode(width: int, height: int, colour: int, filtered_blocks: Iterable[bytes],
           level: int = 1) -> bytes:
    """The whole PNG file as bytes."""
    return b"".join(encode_chunks(width, height, colour, filtered_blocks, level))


def scanlines(image: Any, block_rows: int = 256) -> Iterator[bytes]:
    """Filtered scanline blocks of a (rows, cols) or (rows, cols, 3) uint8 array."""
    import numpy as np

    array = np.asarray(image, dtype=np.uint8)
    bytes_per_pixel = 3 if array.ndim == 3 else 1
    flat = array.reshape(array.shape[0], -1)
    for start in range(0, flat.shape[0], block_rows):
        yield filter_sub(flat[start:start + block_rows], bytes_per_pixel)
