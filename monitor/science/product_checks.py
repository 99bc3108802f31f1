"""Physical plausibility of one interferogram, checked before it joins a series.

A product that passes the format checks (a readable single-band float raster on the
frame's grid) can still hold values no interferogram can hold: infinities, fill values
such as 1e30, phase decoded with the wrong scale. Summed into a daisy chain, one such
value poisons every later epoch of its pixel and the scoring of the whole map, so these
checks run on every product before it is appended (:mod:`monitor.service.pipeline`).
Each function returns what is wrong as a sentence (None when the product is plausible);
the caller names the file and decides what to do (the watch quarantines the product).

Bounds and their physical reasons:

* :data:`MAX_ABS_PHASE_RAD` = 1e4 rad. Unwrapped phase maps to LOS displacement as
  ``d = lambda / (4 pi) * phi``; at Sentinel-1 C-band (lambda = 5.5466 cm, ESA Sentinel-1
  user guide) one radian is 4.41 mm, so 1e4 rad is 44 m of LOS, tens of metres; at L-band
  (ALOS-2, lambda = 23.84 cm) it is 190 m. Unwrapping needs neighbouring pixels to
  differ by less than pi (the Itoh condition, Itoh 1982), so across the diagonal of a
  2,500-pixel LiCSAR frame phase can span about 1e4 rad at the very most; real products
  stay orders of magnitude below it. Values beyond the bound are fill values or a
  decoding error.
* :data:`MAX_ABS_INCREMENT_M` = 10 m of incremental LOS displacement in one pair. The
  largest volcanic signals Sentinel-1 interferograms resolve (eruptions, dike intrusions,
  caldera collapse onsets) are metre-scale, and larger motion decorrelates instead of
  being measured; 10 m is a bound no real pair reaches, while a product in the wrong
  units (millimetres read as metres) or with fill values lands far above it.
* :data:`DEFAULT_MIN_VALID_FRACTION` = 5 % of the frame finite and coherent (coherence
  above the threshold, 0.1 as in the Taal application of Sugiyama et al. 2011). Below
  that the reference regions have no ground to stand on and the daisy chain would
  carry NaN over almost the whole frame from then on (the per-pixel rule of
  :mod:`monitor.science.timeseries`). It is a setting (``[rasters] min_valid_fraction``)
  because a frame mostly over sea (an island volcano) may need a lower one.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

#: Largest |unwrapped phase| accepted, radians (44 m of LOS at C-band; module docstring).
MAX_ABS_PHASE_RAD = 1.0e4
#: Largest |incremental LOS displacement| of one pair accepted, metres (module docstring).
MAX_ABS_INCREMENT_M = 10.0
#: Smallest fraction of finite, coherent pixels of a product (module docstring).
DEFAULT_MIN_VALID_FRACTION = 0.05


def phase_problem(phase_rad: NDArray[np.floating], *,
                  max_abs_rad: float = MAX_ABS_PHASE_RAD) -> str | None:
    """What is wrong with unwrapped phase values, or None.

    Args:
        phase_rad: Unwrapped phase, radians, ``(ny, nx)``; NaN is nodata (allowed).
        max_abs_rad: Largest |phase| accepted.

    Returns:
        A sentence naming the check that failed (non-finite values, phase beyond the
        bound), or None.
    """
    inf = np.isinf(phase_rad)
    if inf.any():
        return (f"{int(inf.sum())} pixel(s) of infinite phase (nodata must be NaN or 0, "
                "never inf)")
    with np.errstate(invalid="ignore"):
        over = np.abs(phase_rad) > max_abs_rad
    if over.any():
        worst = float(np.nanmax(np.abs(phase_rad)))
        return (f"{int(over.sum())} pixel(s) of |phase| above {max_abs_rad:g} rad (largest "
                f"{worst:.3g} rad): not an unwrapped interferogram (fill value or wrong scale)")
    return None


def displacement_problem(displacement_m: NDArray[np.floating],
                         coherence: NDArray[np.floating], *, coherence_threshold: float,
                         min_valid_fraction: float = DEFAULT_MIN_VALID_FRACTION,
                         max_abs_m: float = MAX_ABS_INCREMENT_M) -> str | None:
    """What is wrong with a decoded product, or None.

    Args:
        displacement_m: Incremental LOS displacement, metres, ``(ny, nx)``; NaN = no data.
        coherence: Coherence 0-1, same shape.
        coherence_threshold: Coherence at or below which a pixel is incoherent.
        min_valid_fraction: Smallest fraction of finite, coherent pixels accepted.
        max_abs_m: Largest |displacement| accepted, metres.

    Returns:
        A sentence naming the check that failed (non-finite values, displacement beyond
        the bound, too few valid pixels), or None.
    """
    if not np.issubdtype(displacement_m.dtype, np.floating):
        return f"displacement of dtype {displacement_m.dtype}; expected floating point"
    inf = np.isinf(displacement_m)
    if inf.any():
        return f"{int(inf.sum())} pixel(s) of infinite displacement"
    with np.errstate(invalid="ignore"):
        over = np.abs(displacement_m) > max_abs_m
    if over.any():
        worst = float(np.nanmax(np.abs(displacement_m)))
        return (f"{int(over.sum())} pixel(s) of |LOS displacement| above {max_abs_m:g} m "
                f"(largest {worst:.3g} m) in one pair: not a physical measurement")
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(displacement_m) & (coherence > coherence_threshold)
    fraction = float(valid.mean()) if valid.size else 0.0
    if fraction < min_valid_fraction:
        return (f"only {fraction:.1%} of the pixels are finite with coherence above "
                f"{coherence_threshold:g} (at least {min_valid_fraction:.0%} needed)")
    return None
