"""Phase unwrapping with SNAPHU (statistical-cost network-flow unwrapping).

SNAPHU (Chen, C. W. & Zebker, H. A. (2001), Two-dimensional phase unwrapping with use of
statistical models for cost functions in nonlinear optimization, J. Opt. Soc. Am. A 18(2),
338-351, doi:10.1364/JOSAA.18.000338; Chen & Zebker (2002), Phase unwrapping for large
SAR interferograms: statistical segmentation and generalized network models, IEEE TGRS
40(8), 1709-1719) runs through the ``snaphu`` package from PyPI, which writes its inputs
to temporary files and runs the SNAPHU program on them; that is why this wrapper lives
in ``io/`` and not in the pure science. Incoherent or undefined pixels are masked (SNAPHU
interpolates across them) and come back NaN; pixels outside every connected component
too. Every failure of the program becomes a
:class:`~monitor.errors.ProcessingError` naming the input and what SNAPHU said.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from types import ModuleType
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from monitor.errors import InputError, ProcessingError


@dataclass(frozen=True, eq=False)
class Unwrapped:
    """SNAPHU's result.

    Attributes:
        phase_rad: ``(ny, nx)`` unwrapped phase, radians, float32, NaN where masked or
            outside every connected component.
        components: ``(ny, nx)`` connected-component labels (0: none); the phase of two
            components may differ by an unknown multiple of 2 pi.
        n_components: Number of connected components.
        masked_fraction: Fraction of pixels masked before unwrapping.
    """

    phase_rad: NDArray[np.float32]
    components: NDArray[np.uint32]
    n_components: int
    masked_fraction: float


def unwrap(ifg: NDArray[np.complexfloating], coherence: NDArray[np.floating], *,
           nlooks: float, threshold: float = 0.1,
           cost: Literal["smooth", "defo"] = "smooth",
           init: Literal["mcf", "mst"] = "mcf", ntiles: tuple[int, int] = (1, 1),
           tile_overlap: int = 0, nproc: int = 1, label: str = "interferogram",
           ) -> Unwrapped:
    """Unwrap a multilooked interferogram with SNAPHU.

    Args:
        ifg: ``(ny, nx)`` complex interferogram (its phase is unwrapped).
        coherence: ``(ny, nx)`` coherence in [0, 1]; NaN or ``<= threshold`` is masked.
        nlooks: Equivalent number of independent looks of the coherence estimate
            (SNAPHU's statistical cost needs it; azimuth x range looks when the samples
            are about a resolution cell apart).
        threshold: Coherence at or below which a pixel is masked (0.1, as for Taal 2020).
        cost: ``"smooth"`` (generic) or ``"defo"`` (deformation, allows larger jumps).
        init: Initialisation, ``"mcf"`` or ``"mst"``.
        ntiles: Tiles along rows and columns (``(1, 1)``: one tile).
        tile_overlap: Overlap of the tiles, pixels.
        nproc: Processes for tiled unwrapping.
        label: Name of the input for error messages.

    Returns:
        The :class:`Unwrapped` phase.

    Raises:
        InputError: shapes differ, the coherence is outside [0, 1], nothing is coherent,
            or SNAPHU leaves no pixel in a connected component (too noisy or fragmented).
        ProcessingError: SNAPHU failed (the program: may pass on a retry).
    """
    snaphu = _snaphu()
    ifg = np.asarray(ifg)
    coh = np.asarray(coherence, dtype=np.float32)
    if ifg.ndim != 2 or ifg.shape != coh.shape:
        raise InputError(f"{label}: interferogram {ifg.shape} and coherence {coh.shape} must "
                         "be the same 2-D shape")
    if min(ifg.shape) < 2:
        raise InputError(f"{label}: a {ifg.shape} interferogram is too small to unwrap")
    if not np.iscomplexobj(ifg):
        raise InputError(f"{label}: the interferogram must be complex, got {ifg.dtype}")
    finite = np.isfinite(coh)
    if np.any((coh[finite] < 0) | (coh[finite] > 1)):
        raise InputError(f"{label}: coherence must lie in [0, 1] (is this a coherence map?)")
    if not (math.isfinite(nlooks) and nlooks >= 1):
        raise InputError(f"{label}: nlooks must be >= 1, got {nlooks!r}")
    mask = finite & (coh > threshold) & np.isfinite(ifg) & (np.abs(ifg) > 0)
    if not mask.any():
        raise InputError(f"{label}: no pixel has coherence above {threshold}; nothing to "
                         "unwrap (check the pair, the crop or lower the threshold)")
    if mask.sum() < 4:
        raise InputError(f"{label}: only {int(mask.sum())} coherent pixels; too few to unwrap")
    z = np.where(mask, ifg, 0).astype(np.complex64)
    c = np.where(mask, coh, 0).astype(np.float32)
    try:
        unw, comp = snaphu.unwrap(z, c, nlooks=float(nlooks), cost=cost, init=init,
                                  mask=mask.astype(np.uint8), ntiles=ntiles,
                                  tile_overlap=tile_overlap, nproc=nproc)
    except Exception as exc:  # the program's failures come as several exception types
        raise ProcessingError(f"SNAPHU failed to unwrap {label} ({ifg.shape[0]} x "
                              f"{ifg.shape[1]}, cost={cost}, init={init}): "
                              f"{type(exc).__name__}: {exc}") from exc
    comp = np.asarray(comp, dtype=np.uint32)
    phase = np.asarray(unw, dtype=np.float32)
    keep = mask & (comp > 0)
    if not keep.any():
        # What the pair holds, not a failure that may pass: the product is refused (the
        # archive quarantines it) rather than retried at every poll.
        raise InputError(f"SNAPHU left no pixel of {label} in a connected component "
                              f"({int(mask.sum())} coherent pixels): the interferogram is "
                              "too noisy or too fragmented to unwrap")
    phase = np.where(keep, phase, np.nan).astype(np.float32)
    n_comp = int(np.unique(comp[keep]).size)
    return Unwrapped(phase, comp, n_comp, float(1.0 - mask.mean()))


def _snaphu() -> ModuleType:
    """The ``snaphu`` package, or a ProcessingError saying how to install it."""
    try:
        import snaphu
    except ImportError as exc:
        raise ProcessingError(f"SNAPHU is not available ({exc}): install the snaphu package "
                              "(pip install snaphu, or the project's optional extra) to "
                              "unwrap ALOS-2 interferograms") from None
    return snaphu


def check_snaphu() -> str:
    """Run SNAPHU on a small known interferogram (a ramp of 3 fringes, 32 x 32).

    Returns:
        What ran, for ``config check`` (the package version and the time taken).

    Raises:
        ProcessingError: the package is missing, the program failed, or it unwrapped the
            ramp wrongly.
    """
    snaphu = _snaphu()
    start = time.perf_counter()
    yy, xx = np.mgrid[0:32, 0:32].astype(np.float64)
    truth = 2 * math.pi * 3 * (xx + 0.5 * yy) / 48.0
    ifg = np.exp(1j * truth).astype(np.complex64)
    got = unwrap(ifg, np.full(ifg.shape, 0.9, np.float32), nlooks=9.0,
                 label="config check ramp")
    err = got.phase_rad - truth
    spread = float(np.nanmax(err) - np.nanmin(err))
    if not spread < 1e-2:
        raise ProcessingError(f"SNAPHU unwrapped a test ramp of 3 fringes wrongly (spread "
                              f"{spread:.3g} rad): check the snaphu installation")
    return (f"SNAPHU runs (snaphu package {getattr(snaphu, '__version__', '?')}): a 32 x 32 "
            f"test ramp unwrapped exactly in {time.perf_counter() - start:.2f} s")
