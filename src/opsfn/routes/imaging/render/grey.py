"""Greyscale rendering as DCMTK's ``dcm2pnm`` does it, one lookup table over the stored values.

Every step of DCMTK's pipeline (modality LUT or rescale, VOI window / VOI LUT / min-max window,
MONOCHROME1 and Presentation LUT Shape inversion) is a function of the stored value alone, so the
whole chain is evaluated once per possible stored value and the frame is mapped by one table
lookup. The arithmetic follows DCMTK exactly, because "close" is not "identical":

* the rescaled value is stored in an integer intermediate, so it is truncated toward zero;
* the linear window is DICOM PS3.3 C.11.2.1.2 in DCMTK's form ``offset + x * gradient`` with the
  result truncated, never rounded;
* inversion is done inside the window function (``low`` > ``high``), which truncates differently
  from inverting an already-rendered value.

All functions are pure: arrays in, arrays out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

VoiMode = Literal["window", "voi_lut", "minmax"]


@dataclass(frozen=True, slots=True)
class Lut:
    """A DICOM lookup table: descriptor (entries, first mapped value, bits) and its data."""

    first: int
    bits: int
    data: Any  # numpy int64 array

    @property
    def last(self) -> int:
        """The last input value the table maps."""
        return self.first + len(self.data) - 1


@dataclass(frozen=True, slots=True)
class GreyParams:
    """Everything the greyscale pipeline needs from the dataset (no identifying data)."""

    bits_stored: int
    signed: bool
    slope: float = 1.0
    intercept: float = 0.0
    modality_lut: Lut | None = None
    voi: VoiMode = "minmax"
    center: float = 0.0
    width: float = 0.0
    sigmoid: bool = False
    voi_lut: Lut | None = None
    invert: bool = False


def stored_range(bits_stored: int, signed: bool) -> tuple[int, int]:
    """The smallest and largest stored value ``bits_stored`` bits can hold."""
    if signed:
        return -(1 << (bits_stored - 1)), (1 << (bits_stored - 1)) - 1
    return 0, (1 << bits_stored) - 1


def container_values(bits_allocated: int, bits_stored: int, signed: bool, shift: int = 0) -> Any:
    """The stored value of every possible raw container word (index = unsigned raw word).

    Masking the unused high bits and sign extension are folded in here, so raw little- or
    big-endian words can index the final table directly without a pre-pass over the pixels.
    """
    import numpy as np

    raw = np.arange(1 << bits_allocated, dtype=np.int64)
    values = (raw >> shift) & ((1 << bits_stored) - 1)
    if signed:
        sign = 1 << (bits_stored - 1)
        values = np.where(values & sign, values - (1 << bits_stored), values)
    return values


def modality(stored: Any, params: GreyParams) -> Any:
    """Modality LUT or rescale of stored values, truncated toward zero like DCMTK's integers."""
    import numpy as np

    if params.modality_lut is not None:
        lut = params.modality_lut
        index = np.clip(stored - lut.first, 0, len(lut.data) - 1)
        return lut.data[index].astype(np.int64)
    slope, intercept = params.slope, params.intercept
    if slope == 1.0 and intercept == 0.0:
        return stored.astype(np.int64)
    values = stored.astype(np.float64)
    if slope == 1.0:
        scaled = values + intercept
    elif intercept == 0.0:
        scaled = values * slope
    else:
        scaled = values * slope + intercept
    return np.trunc(scaled).astype(np.int64)


def minmax_window(low_value: int, high_value: int) -> tuple[float, float]:
    """DCMTK's min-max window: the centre and width that span exactly [min, max]."""
    return (low_value + high_value + 1) / 2, float(high_value - low_value + 1)


def linear_window(values: Any, center: float, width: float, low: int, high: int) -> Any:
    """PS3.3 C.11.2.1.2 linear window in DCMTK's arithmetic; ``low > high`` renders inverted."""
    import numpy as np

    x = values.astype(np.float64)
    width_1 = width - 1
    left = center - 0.5 - width_1 / 2
    right = center - 0.5 + width_1 / 2
    outrange = float(high) - float(low)
    if width_1 == 0:
        offset, gradient = 0.0, 0.0
    else:
        offset = high - ((center - 0.5) / width_1 + 0.5) * outrange
        gradient = outrange / width_1
    out = np.trunc(offset + x * gradient)
    out = np.where(x <= left, low, np.where(x > right, high, out))
    return np.clip(out, 0, 255).astype(np.uint8)


def sigmoid_window(values: Any, center: float, width: float, low: int, high: int) -> Any:
    """PS3.3 C.11.2.1.3 SIGMOID function, ``low + range / (1 + e^(-4(x-c)/w))`` truncated."""
    import numpy as np

    x = values.astype(np.float64)
    outrange = float(high) - float(low)
    with np.errstate(over="ignore"):
        out = np.trunc(low + outrange / (1 + np.exp(-4 * (x - center) / width)))
    return np.clip(out, 0, 255).astype(np.uint8)


def voi_lut(values: Any, lut: Lut, low: int, high: int) -> Any:
    """A VOI LUT scaled to the output range (DCMTK: ``low + entry * (range + 1) / 2^bits``)."""
    import numpy as np

    outrange = float(high) - float(low) + 1
    gradient = outrange / float(1 << lut.bits)
    entries = lut.data.astype(np.float64)
    first_value = np.trunc(low + entries[0] * gradient)
    last_value = np.trunc(low + entries[-1] * gradient)
    index = np.clip(values - lut.first, 0, len(entries) - 1)
    out = np.trunc(low + entries[index] * gradient)
    out = np.where(values <= lut.first, first_value, np.where(values >= lut.last, last_value, out))
    return np.clip(out, 0, 255).astype(np.uint8)


def output_lut(modality_values: Any, params: GreyParams, used: Any = None) -> Any:
    """The 8-bit output for each modality value; ``used`` marks values present in the frame."""
    import numpy as np

    low, high = (255, 0) if params.invert else (0, 255)
    if params.voi == "voi_lut" and params.voi_lut is not None:
        return voi_lut(modality_values, params.voi_lut, low, high)
    if params.voi == "window" and params.width >= 1:
        center, width = params.center, params.width
        if params.sigmoid:
            return sigmoid_window(modality_values, center, width, low, high)
    else:
        present = modality_values if used is None else modality_values[used]
        if present.size == 0:
            return np.zeros(modality_values.shape, dtype=np.uint8)
        center, width = minmax_window(int(present.min()), int(present.max()))
    return linear_window(modality_values, center, width, low, high)


def container_lut(bits_allocated: int, params: GreyParams, shift: int = 0, histogram: Any = None
                  ) -> Any:
    """The table from raw container word (8 or 16 bits) to output grey level.

    ``histogram`` (counts per raw word) is needed only for the min-max window: it tells which
    stored values the frame really contains.
    """
    stored = container_values(bits_allocated, params.bits_stored, params.signed, shift)
    values = modality(stored, params)
    used = histogram > 0 if histogram is not None else None
    return output_lut(values, params, used)


def render_values(values: Any, params: GreyParams) -> Any:
    """Render an array of stored values directly (32-bit data, where a table would be too big)."""
    import numpy as np

    flat = values.astype(np.int64).ravel()
    lo, hi = int(flat.min()), int(flat.max())
    if hi - lo < (1 << 24):
        table_in = np.arange(lo, hi + 1, dtype=np.int64)
        present = np.bincount(flat - lo, minlength=hi - lo + 1) > 0
        table = output_lut(modality(table_in, params), params, present)
        return table[flat - lo].reshape(values.shape)
    return output_lut(modality(flat, params), params).reshape(values.shape)
