"""Where the stable reference regions of a target go, when nobody says.

The LSTT compares the target disc with stable reference regions, and the cumulative
series is referenced to their union (its median is removed from every interferogram), so
both the watch and ``scan-series`` need them before the first epoch is scored. One rule
places them (:func:`place_references`), on the coherence of the series' first product and
the frame's DEM when there is one:

1. **Windows.** Up to ``n`` coherent squares (at least 80 % of their pixels coherent) far
   from the target, ranked by elevation similarity with the target disc when a DEM is
   given (stratified atmosphere follows elevation), else by coherent fraction
   (:func:`auto_reference_regions`). Their side is first the target diameter, clamped to
   [8, min(ny, nx) // 4] pixels, and every pixel lies at least two target radii from the
   target centre (a Mogi source's displacement there is below 10 % of its peak at depths
   up to the radius). Windows are at least one pixel apart, so each is its own connected
   region and the union's components are the windows (:func:`split_references`).
2. **When the frame has no room** (a wide target on a small clip), the windows shrink
   (halving, down to 8 px), then move closer, to 1.5 radii and then to the target radius
   plus a margin of a quarter radius (at least 2 px).
3. **Ring.** When no window qualifies even then, the coherent pixels of the frame beyond
   that margin form one reference region, an annulus clipped by the frame.
4. Only a frame with fewer than :data:`MIN_RING_PIXELS` coherent pixels beyond the margin
   holds no stable coherent area: that is an :class:`~monitor.errors.InputError` that
   says so (the caller adds how to give explicit references).

What was chosen is said in :attr:`ReferencePlacement.notes`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage

from monitor.errors import InputError
from monitor.science.lstt_regions import _valid_field, disc_mask

#: Reference windows wanted.
AUTO_REFERENCE_COUNT = 3
#: Smallest window side, pixels.
MIN_WINDOW_PX = 8
#: Fewest coherent pixels of a ring reference.
MIN_RING_PIXELS = 64


@dataclass(frozen=True)
class ReferenceWindow:
    """A square stable reference window chosen by :func:`auto_reference_regions`.

    Attributes:
        row0: Top row.
        col0: Left column.
        size_px: Side in pixels.
        valid_fraction: Fraction of coherent (valid) pixels in the window.
        distance_px: Distance from the target centre to the nearest window pixel.
        elevation_mismatch: ``|median(dem window) - median(dem target)| / IQR(dem target)``
            (IQR floored at 1 m); NaN without a DEM.
    """

    row0: int
    col0: int
    size_px: int
    valid_fraction: float
    distance_px: float
    elevation_mismatch: float

    def mask(self, shape: tuple[int, int]) -> NDArray[np.bool_]:
        """The window as a boolean mask of ``shape``."""
        out = np.zeros(shape, bool)
        out[self.row0: self.row0 + self.size_px, self.col0: self.col0 + self.size_px] = True
        return out


def auto_reference_regions(
    field: ArrayLike, *, target_centre_rc: tuple[float, float], target_radius_px: float,
    n: int = 3, size_px: int = 32, min_distance_px: float | None = None,
    dem: ArrayLike | None = None, field_is_coherence: bool = False,
    coherence_threshold: float = 0.1, min_valid_fraction: float = 0.8, gap_px: int = 0,
) -> tuple[ReferenceWindow, ...]:
    """Choose stable reference windows: coherent, far from the edifice, similar elevation.

    Candidate ``size_px`` squares on a grid of step ``size_px // 2`` are kept when every
    pixel is at least ``min_distance_px`` (default ``2 * target_radius_px``) from the target
    centre and at least ``min_valid_fraction`` of them are valid (finite displacement, or
    coherence above ``coherence_threshold``). They are ranked by elevation mismatch with the
    target disc when a DEM is given (stratified atmosphere follows elevation), otherwise by
    valid fraction (descending); ties go to the nearer window (more similar atmosphere).
    Non-overlapping windows are taken greedily; with ``gap_px`` > 0 they are also at
    least that many pixels apart (so that each is its own connected region).

    Args:
        field: Displacement (NaN = incoherent) or coherence ``(ny, nx)``.
        target_centre_rc: Target centre (row, col) in pixels.
        target_radius_px: Target disc radius in pixels.
        n: Windows wanted.
        size_px: Window side in pixels.
        min_distance_px: Minimum distance from the target centre.
        dem: Optional elevation ``(ny, nx)`` metres.
        field_is_coherence: Treat ``field`` as coherence rather than displacement.
        coherence_threshold: Coherence at or below which a pixel is invalid.
        min_valid_fraction: Minimum valid fraction of a window.
        gap_px: Smallest gap between chosen windows, pixels.

    Returns:
        Up to ``n`` windows, best first (fewer when fewer qualify).

    Raises:
        InputError: bad parameters, or no window qualifies.
    """
    arr = _valid_field(field)
    ny, nx = arr.shape
    if n < 1 or size_px < 2 or size_px > min(ny, nx):
        raise InputError(f"n / size_px: expected n >= 1 and 2 <= size_px <= {min(ny, nx)}, "
                         f"got n={n}, size_px={size_px}")
    valid = arr > coherence_threshold if field_is_coherence else np.isfinite(arr)
    min_d = 2.0 * target_radius_px if min_distance_px is None else float(min_distance_px)
    elev = None
    if dem is not None:
        elev = _valid_field(dem, "dem")
        if elev.shape != arr.shape:
            raise InputError(f"dem: shape {elev.shape} differs from field shape {arr.shape}")
        disc = disc_mask(arr.shape, target_centre_rc, target_radius_px) & np.isfinite(elev)
        if not disc.any():
            raise InputError("dem: no valid elevation in the target disc")
        t_med = float(np.median(elev[disc]))
        q75, q25 = np.percentile(elev[disc], [75, 25])
        t_iqr = max(float(q75 - q25), 1.0)
    r0, c0 = target_centre_rc
    step = max(1, size_px // 2)
    candidates = []
    for row in range(0, ny - size_px + 1, step):
        for col in range(0, nx - size_px + 1, step):
            near_r = min(max(r0, row), row + size_px - 1)
            near_c = min(max(c0, col), col + size_px - 1)
            dist = float(np.hypot(near_r - r0, near_c - c0))
            if dist < min_d:
                continue
            frac = float(valid[row: row + size_px, col: col + size_px].mean())
            if frac < min_valid_fraction:
                continue
            mismatch = float("nan")
            if elev is not None:
                window = elev[row: row + size_px, col: col + size_px]
                window = window[np.isfinite(window)]
                if window.size == 0:
                    continue
                mismatch = abs(float(np.median(window)) - t_med) / t_iqr
            key = (mismatch if elev is not None else -frac, dist)
            candidates.append((key, ReferenceWindow(row, col, size_px, frac, dist, mismatch)))
    candidates.sort(key=lambda item: item[0])
    chosen: list[ReferenceWindow] = []
    for _, win in candidates:
        if all(abs(win.row0 - c.row0) >= size_px + gap_px
               or abs(win.col0 - c.col0) >= size_px + gap_px for c in chosen):
            chosen.append(win)
        if len(chosen) == n:
            break
    if not chosen:
        raise InputError(
            f"no reference window of {size_px} px with >= {min_valid_fraction:.0%} valid "
            f"pixels at >= {min_d:.0f} px from the target; lower size_px or min_distance_px"
        )
    return tuple(chosen)


@dataclass(frozen=True, eq=False)
class ReferencePlacement:
    """The reference regions chosen for a target.

    Attributes:
        masks: The regions, boolean ``(ny, nx)`` each, best first.
        descriptions: Where each one is (rows and columns, or the ring's radius).
        notes: What the rule had to do (shrunk windows, closer windows, a ring), empty
            when the first try worked.
    """

    masks: tuple[NDArray[np.bool_], ...]
    descriptions: tuple[str, ...]
    notes: tuple[str, ...]

    @property
    def union(self) -> NDArray[np.bool_]:
        """All regions together, boolean ``(ny, nx)`` (the series reference)."""
        return np.asarray(np.logical_or.reduce(self.masks), dtype=bool)


def _window_sizes(first: int) -> list[int]:
    sizes = [first]
    while sizes[-1] // 2 >= MIN_WINDOW_PX:
        sizes.append(sizes[-1] // 2)
    if sizes[-1] > MIN_WINDOW_PX:
        sizes.append(MIN_WINDOW_PX)
    return sizes


def place_references(coherence: ArrayLike, *, target_centre_rc: tuple[float, float],
                     target_radius_px: float, coherence_threshold: float,
                     dem: ArrayLike | None = None, n: int = AUTO_REFERENCE_COUNT
                     ) -> ReferencePlacement:
    """Place the reference regions of a target (module docstring, rules 1-4).

    Args:
        coherence: Coherence 0-1 ``(ny, nx)`` of the series' first product (NaN: none).
        target_centre_rc: Target centre (row, col), pixels.
        target_radius_px: Target radius, pixels (of the finer direction: the disc lies
            within it).
        coherence_threshold: Coherence at or below which a pixel is incoherent.
        dem: Heights ``(ny, nx)`` metres, or None.
        n: Windows wanted.

    Raises:
        InputError: the frame holds no stable coherent area outside the target (rule 4).
    """
    coh = np.nan_to_num(_valid_field(coherence, "coherence"), nan=0.0)
    ny, nx = coh.shape
    r = float(target_radius_px)
    if not r > 0:
        raise InputError(f"target_radius_px: expected a positive radius, got {r!r}")
    margin = r + max(2.0, 0.25 * r)
    first = int(min(max(MIN_WINDOW_PX, math.ceil(2 * r)), max(MIN_WINDOW_PX, min(ny, nx) // 4)))
    first = min(first, ny, nx)
    notes: list[str] = []
    for distance in (2.0 * r, 1.5 * r, margin):
        for size in _window_sizes(first):
            if size > min(ny, nx):
                continue
            try:
                windows = auto_reference_regions(
                    coh, target_centre_rc=target_centre_rc, target_radius_px=r, n=n,
                    size_px=size, min_distance_px=distance, dem=dem, field_is_coherence=True,
                    coherence_threshold=coherence_threshold, gap_px=1)
            except InputError:
                continue
            if size != first or distance != 2.0 * r:
                notes.append(f"no {first} px window fits at >= {2 * r:.0f} px from the "
                             f"target centre; {len(windows)} window(s) of {size} px at >= "
                             f"{distance:.0f} px")
            return ReferencePlacement(
                tuple(w.mask((ny, nx)) for w in windows),
                tuple(f"window rows {w.row0}-{w.row0 + w.size_px - 1}, cols {w.col0}-"
                      f"{w.col0 + w.size_px - 1}, {w.valid_fraction:.0%} coherent"
                      for w in windows), tuple(notes))
    rows, cols = np.ogrid[0:ny, 0:nx]
    r0, c0 = target_centre_rc
    ring = ((rows - r0) ** 2 + (cols - c0) ** 2 >= margin ** 2) & (coh > coherence_threshold)
    if int(ring.sum()) < MIN_RING_PIXELS:
        raise InputError(
            f"the frame ({ny} x {nx} px) holds no stable coherent area outside the target: "
            f"{int(ring.sum())} coherent pixels at >= {margin:.0f} px from its centre "
            f"(fewer than {MIN_RING_PIXELS}) and no {MIN_WINDOW_PX} px window at least 80% "
            "coherent")
    notes.append(f"no window of >= {MIN_WINDOW_PX} px at least 80% coherent fits outside "
                 f"the target; one ring reference: the {int(ring.sum())} coherent pixels at "
                 f">= {margin:.0f} px from the target centre")
    return ReferencePlacement((np.asarray(ring),),
                              (f"ring beyond {margin:.0f} px of the target centre",),
                              tuple(notes))


def split_references(union: NDArray[np.bool_] | None) -> tuple[NDArray[np.bool_], ...]:
    """The regions of a series reference: its connected components (the windows of
    :func:`place_references` are one pixel apart at least, so each is one component)."""
    if union is None or not union.any():
        return ()
    labels, count = ndimage.label(union)
    return tuple(np.asarray(labels == k) for k in range(1, int(count) + 1))
