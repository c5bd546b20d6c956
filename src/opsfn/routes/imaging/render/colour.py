"""Colour rendering as DCMTK renders it: RGB reduced by shifting, YCbCr converted with DCMTK's
own (truncating) coefficients, palette colour through the palette tables.

Pure functions over numpy arrays of shape (rows, columns, 3) or (rows, columns).
"""

from __future__ import annotations

from typing import Any


def reduce_depth(rgb: Any, bits: int) -> Any:
    """Samples of ``bits`` bits to 8 bits: DCMTK shifts right (and scales up small depths)."""
    import numpy as np

    if bits == 8:
        return rgb.astype(np.uint8, copy=False)
    if bits > 8:
        return (rgb.astype(np.uint64) >> (bits - 8)).astype(np.uint8)
    gradient = 255 / ((1 << bits) - 1)
    if gradient == int(gradient):
        return (rgb.astype(np.uint16) * int(gradient)).astype(np.uint8)
    return np.trunc(rgb.astype(np.float64) * gradient).astype(np.uint8)


def ybr_full_to_rgb(ybr: Any, bits: int = 8, *, table: bool = True) -> Any:
    """YCbCr (full range) to RGB with DCMTK's coefficients and truncation.

    For 8-bit YBR_FULL DCMTK first truncates each chroma term in a table, then adds (``table``);
    YBR_FULL_422 and deeper samples use the direct floating-point form. Both are reproduced.
    """
    import numpy as np

    maxvalue = (1 << bits) - 1
    y = ybr[..., 0].astype(np.int32)
    cb = ybr[..., 1].astype(np.int64)
    cr = ybr[..., 2].astype(np.int64)
    if bits == 8 and table:
        levels = np.arange(256, dtype=np.float64)
        rcr = np.trunc(1.4020 * levels - 0.7010 * maxvalue).astype(np.int32)
        gcb = np.trunc(0.3441 * levels).astype(np.int32)
        gcr = np.trunc(0.7141 * levels - 0.5291 * maxvalue).astype(np.int32)
        bcb = np.trunc(1.7720 * levels - 0.8859 * maxvalue).astype(np.int32)
        red = y + rcr[cr]
        green = y - gcb[cb] - gcr[cr]
        blue = y + bcb[cb]
        out = np.stack([red, green, blue], axis=-1)
        return np.clip(out, 0, maxvalue)
    yf, cbf, crf = y.astype(np.float64), cb.astype(np.float64), cr.astype(np.float64)
    red = yf + 1.4020 * crf - 0.7010 * maxvalue
    green = yf - 0.3441 * cbf - 0.7141 * crf + 0.5291 * maxvalue
    blue = yf + 1.7720 * cbf - 0.8859 * maxvalue
    out = np.stack([red, green, blue], axis=-1)
    return np.trunc(np.clip(out, 0, maxvalue)).astype(np.int64)


def palette_to_rgb(indices: Any, luts: list[tuple[int, int, Any]]) -> Any:
    """Palette colour: each index through the red, green and blue tables (first, bits, data).

    Indices below the first mapped value take the first entry, above the last take the last;
    the tables' depth is then reduced to 8 bits by shifting, as for RGB.
    """
    import numpy as np

    planes = []
    for first, bits, data in luts:
        index = np.clip(indices.astype(np.int64) - first, 0, len(data) - 1)
        plane = data[index]
        planes.append(reduce_depth(plane, bits))
    return np.stack(planes, axis=-1)
