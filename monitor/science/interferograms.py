"""Unwrapped interferograms before an inversion: validation, order, coherence, reference.

An :class:`Interferogram` holds two dates and the LOS displacement between them (metres
``(ny, nx)`` float32, NaN where incoherent) with optional coherence (0-1). This module
does the first three steps of :func:`monitor.science.timeseries.cumulative_series` (its
rules 1-3); the incremental daisy chain there applies steps 2-3 one product at a time.

1. **Ordering, reversed pairs, duplicates.** Interferograms are sorted by ``(date1, date2)``.
   A pair given as ``date2 < date1`` is turned round (``date1``/``date2`` swapped and the
   displacement negated) and listed in ``InputReport.reversed_pairs``. Two products with the
   same date pair are dropped as duplicates (listed in ``InputReport.dropped_duplicates``)
   when their arrays are identical (NaN equal to NaN), and refused with an
   :class:`~monitor.errors.InputError` naming the pair when they differ: the code cannot know
   which one is right. ``date1 == date2``, mismatched shapes, an empty list and an
   interferogram without a single valid pixel are refused too.
2. **Coherence mask** (as in the Taal application of Sugiyama et al. 2011): pixels with
   coherence ``<= coherence_threshold`` (default 0.1) or NaN coherence become NaN.
   Incoherent pixels are never treated as zero.
3. **Reference region**: the median of each interferogram over the stable region (a boolean
   mask or a pair of slices) is subtracted; a region without a valid pixel in some
   interferogram is an error naming the pair.

Sources:
    the Taal application of Sugiyama et al. (2011) (coherence threshold 0.1);
    reference-region removal as in LiCSBAS (Morishita et al., 2020) and MintPy (Yunjun et
    al., 2019).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
from numpy.typing import NDArray

from monitor.errors import InputError

DEFAULT_COHERENCE_THRESHOLD = 0.1

#: A stable reference region: boolean ``(ny, nx)`` mask, ``(row_slice, col_slice)`` or None.
Reference = NDArray[np.bool_] | tuple[slice, slice] | None


@dataclass(frozen=True)
class Interferogram:
    """One unwrapped interferogram.

    Attributes:
        date1: First acquisition date.
        date2: Second acquisition date (``date2 < date1`` is accepted and turned round).
        displacement_m: LOS displacement ``d(date2) - d(date1)``, metres, ``(ny, nx)``,
            float32, NaN where incoherent or unwrapped badly.
        coherence: Optional coherence ``(ny, nx)`` in 0-1.
    """

    date1: date
    date2: date
    displacement_m: NDArray[np.float32]
    coherence: NDArray[np.floating] | None = None

    def __post_init__(self) -> None:
        for name in ("date1", "date2"):
            value = getattr(self, name)
            if isinstance(value, datetime) or not isinstance(value, date):
                raise InputError(f"{name}: expected a datetime.date, got {value!r}")
        if self.date1 == self.date2:
            raise InputError(f"interferogram {self.label}: date1 equals date2")
        disp = np.asarray(self.displacement_m, dtype=np.float32)
        if disp.ndim != 2 or disp.size == 0:
            raise InputError(
                f"interferogram {self.label}: displacement_m must be a non-empty 2-D "
                f"(ny, nx) array, got shape {disp.shape}"
            )
        object.__setattr__(self, "displacement_m", disp)
        if self.coherence is not None:
            coh = np.asarray(self.coherence, dtype=np.float32)
            if coh.shape != disp.shape:
                raise InputError(
                    f"interferogram {self.label}: coherence shape {coh.shape} differs from "
                    f"displacement shape {disp.shape}"
                )
            object.__setattr__(self, "coherence", coh)

    @property
    def label(self) -> str:
        return f"{self.date1.isoformat()}_{self.date2.isoformat()}"


@dataclass(frozen=True)
class InputReport:
    """What was done to the input list before the inversion.

    Attributes:
        dropped_duplicates: Date pairs given more than once with identical data (one kept).
        reversed_pairs: Pairs given as ``(later, earlier)``; turned round and negated.
        reordered: True when the input was not already sorted by ``(date1, date2)``.
    """

    dropped_duplicates: tuple[tuple[date, date], ...] = ()
    reversed_pairs: tuple[tuple[date, date], ...] = ()
    reordered: bool = False


def reference_mask(reference: Reference, shape: tuple[int, int]) -> NDArray[np.bool_] | None:
    """Turn a reference region (bool mask or ``(row_slice, col_slice)``) into a mask.

    Args:
        reference: Boolean ``(ny, nx)`` mask, a pair of slices, or None.
        shape: Image shape ``(ny, nx)``.

    Returns:
        Boolean mask of ``shape`` with at least one True, or None.
    """
    if reference is None:
        return None
    if isinstance(reference, tuple):
        if len(reference) != 2 or not all(isinstance(s, slice) for s in reference):
            raise InputError(f"reference: expected (row_slice, col_slice), got {reference!r}")
        mask = np.zeros(shape, bool)
        mask[reference] = True
    else:
        mask = np.asarray(reference)
        if mask.dtype != np.bool_ or mask.shape != shape:
            raise InputError(
                f"reference: expected a boolean mask of shape {shape}, got dtype "
                f"{mask.dtype} shape {mask.shape}"
            )
    if not mask.any():
        raise InputError(f"reference: the region {reference!r} selects no pixel")
    return mask


def prepare_interferogram(
    ifg: Interferogram,
    ref_mask: NDArray[np.bool_] | None,
    coherence_threshold: float = DEFAULT_COHERENCE_THRESHOLD,
) -> tuple[NDArray[np.float32], float]:
    """Coherence-mask and reference one interferogram (steps 2-3 of the module rules).

    Returns:
        The displacement ``(ny, nx)`` metres float32 (a new array) and the median removed.
    """
    out = np.array(ifg.displacement_m, dtype=np.float32, copy=True)
    if ifg.coherence is not None:
        out[~(ifg.coherence > coherence_threshold)] = np.nan
    if not np.isfinite(out).any():
        raise InputError(
            f"interferogram {ifg.label}: no valid pixel (all NaN after masking coherence "
            f"<= {coherence_threshold})"
        )
    offset = 0.0
    if ref_mask is not None:
        if ref_mask.shape != out.shape:
            raise InputError(
                f"interferogram {ifg.label}: shape {out.shape} differs from the reference "
                f"mask shape {ref_mask.shape}"
            )
        values = out[ref_mask]
        values = values[np.isfinite(values)]
        if values.size == 0:
            raise InputError(
                f"interferogram {ifg.label}: the reference region has no valid pixel; choose "
                "a coherent stable region"
            )
        offset = float(np.median(values))
        out -= np.float32(offset)
    return out, offset


def _same(a: NDArray[np.floating] | None, b: NDArray[np.floating] | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return bool(np.array_equal(a, b, equal_nan=True))


def normalise_interferograms(
    interferograms: Sequence[Interferogram],
) -> tuple[list[Interferogram], InputReport]:
    """Sort, turn round reversed pairs and drop identical duplicates (rule 1)."""
    if len(interferograms) == 0:
        raise InputError("interferograms: empty list; need at least one interferogram")
    shape = interferograms[0].displacement_m.shape
    reversed_pairs = []
    forward: list[Interferogram] = []
    for ifg in interferograms:
        if not isinstance(ifg, Interferogram):
            raise InputError(f"interferograms: expected Interferogram items, got {type(ifg)}")
        if ifg.displacement_m.shape != shape:
            raise InputError(
                f"interferogram {ifg.label}: shape {ifg.displacement_m.shape} differs from "
                f"the first interferogram's {shape}"
            )
        if ifg.date2 < ifg.date1:
            reversed_pairs.append((ifg.date1, ifg.date2))
            ifg = Interferogram(ifg.date2, ifg.date1, -ifg.displacement_m, ifg.coherence)
        forward.append(ifg)
    keys = [(i.date1, i.date2) for i in forward]
    order = sorted(range(len(forward)), key=lambda k: keys[k])
    kept: list[Interferogram] = []
    dropped = []
    for k in order:
        ifg = forward[k]
        if kept and (kept[-1].date1, kept[-1].date2) == keys[k]:
            prev = kept[-1]
            if _same(prev.displacement_m, ifg.displacement_m) and \
                    _same(prev.coherence, ifg.coherence):
                dropped.append(keys[k])
                continue
            raise InputError(
                f"interferogram {ifg.label}: given twice with different data; keep only the "
                "product you trust"
            )
        kept.append(ifg)
    report = InputReport(tuple(dropped), tuple(reversed_pairs), order != sorted(order))
    return kept, report
