"""Multi-gain fusion (Anantrasirichai et al. 2019b, equation 1) and the detection record.

Anantrasirichai et al. (2019b) re-wrap the phase with wrap gains ``mu = 2^i``
(``psi'_mu = mu psi mod 2 pi``), score each re-wrapped image with the CNN and average the
probability maps::

    P = (1 / N) sum_{i=0}^{N-1} P_{mu = 2^i}            (2019b, equation 1; N = 4)

An image is flagged where P > 0.5 (Anantrasirichai et al. 2019a). Here the gains are
configurable; the displacement path re-wraps through a reference fringe spacing
(``psi_mu = wrap(2 pi mu d / F + tau)``, docs/architecture.md), the wrapped path re-wraps
wrapped phase with integer gains, exactly (``wrap(mu wrap(phi)) = wrap(mu phi)``).

Peak: where in the region the network points at the evidence is largest. On a map one
patch wide (224 px or less) the merged probability is flat (every pixel is covered by the
same patches), and the first pixel of the maximum, row 0 col 0, says nothing of where the
signal is. So every pixel within :data:`PEAK_TIE_TOLERANCE` of the maximum is tied, and
the tie is broken by the evidence: for displacement the largest ``|smoothed map -
median|`` (Gaussian of :data:`PEAK_EVIDENCE_SIGMA_PX` pixels, NaN-aware), which sits on a
deformation's centre (or on the summit for a stratified delay); for wrapped phase, which
has no amplitude to compare, the tied pixel nearest the centre of the tied region. On a
larger map a source wider than a patch is seen whole by no patch, and the merged maximum
sits where patches see part of its fringes, often near the frame's border (measured: a
6 cm Mogi source 4 km deep on a 400 x 400 map scored 0.51 at its centre and 0.97-0.999
12 km away, by the shipped networks of versions 2 and 3). So on a flagged map the whole
flagged region around the maximum (its connected part above the threshold) is tied, and
the evidence places the peak within it.

Lon/lat: the caller holds the georeference; :func:`pixel_centre_lonlat` turns a pixel into
map coordinates with a plain affine tuple.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage

from monitor.errors import InputError
from monitor.science.atmocorr import low_pass
from monitor.science.detect.base import PatchClassifier
from monitor.science.detect.calibration import (
    Calibration,
    PlattScaling,
    lag_pixels,
    map_noise_m,
    usable_gains,
)
from monitor.science.detect.canny import canny_mask
from monitor.science.detect.inference import probability_maps
from monitor.science.detect.patching import PatchConfig, check_wrapped
from monitor.science.geometry import DEFAULT_FRINGE_SPACING_M, rewrap, rewrap_phase

#: Wrap gains of Anantrasirichai et al. (2019b), mu = 2^i for i = 0..3.
DEFAULT_GAINS: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0)
#: Flag threshold on the probability (Anantrasirichai et al. 2019a).
DEFAULT_THRESHOLD = 0.5
#: Pixels whose fused P is within this of the maximum are tied for the peak: the network
#: cannot tell them apart (patch probabilities carry no more digits than that), and a flat
#: map ties them all. Module docstring.
PEAK_TIE_TOLERANCE = 1e-3
#: Gaussian sigma, pixels, of the smoothing of the displacement before its largest
#: departure from the median breaks a tie: pixel noise and turbulence at the few-pixel
#: scale do not place the peak, and a source's symmetric bump keeps its centre.
PEAK_EVIDENCE_SIGMA_PX = 3.0


@dataclass(frozen=True, eq=False)
class Detection:
    """Fused multi-gain detection for one image.

    Attributes:
        p_fused: Maximum of the fused probability map (P_max; Anantrasirichai et al.
            2019b).
        p_by_gain: P_max of each gain's map, by gain.
        flag: True when ``p_fused > threshold`` (some pixel has fused P above it).
        peak_row, peak_col: Pixel of the fused maximum, row 0 = north edge; pixels within
            :data:`PEAK_TIE_TOLERANCE` of it are tied and the tie goes to the evidence
            (see :func:`peak_pixel`).
        prob_map: Fused probability map, float32 ``(ny, nx)``.
        threshold: The flag threshold used.
        maps_by_gain: Each gain's probability map ``(ny, nx)``, when kept.
        gains_fused: The gains whose maps were averaged (all of them unless a
            calibration left noisy gains out; :mod:`monitor.science.detect.calibration`).
        noise_m: The map's noise estimate, metres, where a calibration asked for it.
    """

    p_fused: float
    p_by_gain: dict[float, float]
    flag: bool
    peak_row: int
    peak_col: int
    prob_map: NDArray[np.float32]
    threshold: float = DEFAULT_THRESHOLD
    maps_by_gain: dict[float, NDArray[np.float32]] | None = None
    gains_fused: tuple[float, ...] = ()
    noise_m: float | None = None


def _check_threshold(threshold: float) -> float:
    if not (0.0 <= float(threshold) <= 1.0):
        raise InputError(f"threshold must lie in [0, 1], got {threshold!r}")
    return float(threshold)


def check_gains(gains: Sequence[float], integer: bool = False) -> tuple[float, ...]:
    """Validate wrap gains: non-empty, positive, finite, distinct (integers if asked)."""
    vals = tuple(float(g) for g in gains)
    if not vals or len(set(vals)) != len(vals):
        raise InputError(f"gains must be a non-empty list of distinct values, got {gains!r}")
    for g in vals:
        if not (g > 0 and math.isfinite(g)):
            raise InputError(f"gains must be positive finite numbers, got {gains!r}")
        if integer and g != int(g):
            raise InputError(
                f"wrapped phase can only be re-wrapped with integer gains, got {gains!r}"
            )
    return vals


def displacement_evidence(displacement_m: ArrayLike) -> NDArray[np.float64]:
    """``|smoothed map - median|`` of a displacement map, ``(ny, nx)`` metres; NaN where
    no finite pixel is near (Gaussian of :data:`PEAK_EVIDENCE_SIGMA_PX` pixels)."""
    d = np.asarray(displacement_m, dtype=np.float64)
    finite = np.isfinite(d)
    if not finite.any():
        return np.full(d.shape, np.nan)
    smooth = low_pass(d, PEAK_EVIDENCE_SIGMA_PX, min_weight=0.1)
    return np.abs(smooth - float(np.median(d[finite])))


def peak_pixel(fused: NDArray[np.float32],
               evidence: ArrayLike | None = None,
               threshold: float | None = None) -> tuple[int, int]:
    """The peak of a fused map (module docstring): its maximum, ties broken by evidence.

    Args:
        fused: Fused probability map ``(ny, nx)``.
        evidence: Non-negative ``(ny, nx)`` weights (NaN = none), e.g.
            :func:`displacement_evidence`; None to take the tied pixel nearest the centre
            of the tied region.
        threshold: The flag threshold: when the maximum is above it, the connected part of
            the map above it that holds the maximum is tied as well. None: ties only.

    Returns:
        ``(row, col)``.
    """
    top = float(fused.max())
    tied = fused >= top - PEAK_TIE_TOLERANCE
    if threshold is not None and top > threshold:
        parts, _ = ndimage.label(fused > threshold)
        at_max = parts[np.unravel_index(int(np.argmax(fused)), fused.shape)]
        tied = tied | (parts == at_max)
    if evidence is not None:
        ev = np.asarray(evidence, dtype=np.float64)
        if ev.shape != fused.shape:
            raise InputError(f"evidence must have the maps' shape {fused.shape}, got "
                             f"{ev.shape}")
        ranked = np.where(tied & np.isfinite(ev), ev, -np.inf)
        if np.isfinite(ranked.max()):
            r, c = np.unravel_index(int(np.argmax(ranked)), fused.shape)
            return int(r), int(c)
    rows, cols = np.nonzero(tied)
    k = int(np.argmin((rows - rows.mean()) ** 2 + (cols - cols.mean()) ** 2))
    return int(rows[k]), int(cols[k])


def fuse_maps(
    maps_by_gain: Mapping[float, ArrayLike],
    threshold: float = DEFAULT_THRESHOLD,
    keep_maps: bool = False,
    evidence: ArrayLike | None = None,
    fuse_gains: Sequence[float] | None = None,
    noise_m: float | None = None,
    final: PlattScaling | None = None,
) -> Detection:
    """Average per-gain probability maps (Anantrasirichai et al. 2019b, eq. 1) and find the peak.

    Args:
        maps_by_gain: Probability map ``(ny, nx)`` in [0, 1] for each gain.
        threshold: Flag threshold on the fused probability (Anantrasirichai et al. 2019a: 0.5).
        keep_maps: Keep the per-gain maps in the result.
        evidence: What breaks ties for the peak (:func:`peak_pixel`), ``(ny, nx)``.
        fuse_gains: The gains to average (a subset of the maps' gains); None: all.
        noise_m: The map's noise estimate, recorded in the result.
        final: A calibration's last stage, applied to the fused map before the flag and
            the peak (:mod:`monitor.science.detect.calibration`); None: none.

    Returns:
        The :class:`Detection`.
    """
    thr = _check_threshold(threshold)
    if not maps_by_gain:
        raise InputError("maps_by_gain is empty; need at least one gain's map")
    maps = {float(g): np.asarray(m, dtype=np.float32) for g, m in maps_by_gain.items()}
    shapes = {m.shape for m in maps.values()}
    if len(shapes) != 1 or next(iter(shapes)) == () or len(next(iter(shapes))) != 2:
        raise InputError(f"all maps must share one (ny, nx) shape, got {sorted(shapes)}")
    for g, m in maps.items():
        if not np.all(np.isfinite(m)) or m.min() < 0 or m.max() > 1:
            raise InputError(f"the map for gain {g} must hold probabilities in [0, 1]")
    used = tuple(maps) if fuse_gains is None else tuple(float(g) for g in fuse_gains)
    if not used or any(g not in maps for g in used):
        raise InputError(f"fuse_gains {list(used)} must be a non-empty subset of the maps' "
                         f"gains {list(maps)}")
    fused = np.asarray(
        np.mean(np.stack([maps[g] for g in used]), axis=0, dtype=np.float64),
        dtype=np.float32)
    if final is not None:
        fused = final.apply(fused)
    row, col = peak_pixel(fused, evidence, thr)
    p_fused = float(fused.max())
    return Detection(
        p_fused=p_fused,
        p_by_gain={g: float(m.max()) for g, m in maps.items()},
        flag=p_fused > thr,
        peak_row=int(row),
        peak_col=int(col),
        prob_map=fused,
        threshold=thr,
        maps_by_gain=maps if keep_maps else None,
        gains_fused=used,
        noise_m=noise_m,
    )


def calibrated_fusion(
    maps_by_gain: Mapping[float, NDArray[np.float32]],
    displacement_m: NDArray[np.float64],
    calibration: Calibration | None,
    fringe_spacing_m: float,
    pixel_m: float | None,
) -> tuple[dict[float, NDArray[np.float32]], tuple[float, ...] | None, float | None]:
    """Each gain's map calibrated, the gains that stand above the map's noise and that
    noise (:mod:`monitor.science.detect.calibration`); without a calibration the maps as
    they are, every gain, no noise."""
    if calibration is None:
        return dict(maps_by_gain), None, None
    maps = {g: calibration.apply(g, m) for g, m in maps_by_gain.items()}
    if calibration.noise_ratio is None:
        return maps, None, None
    try:
        noise = map_noise_m(displacement_m, lag_pixels(pixel_m, calibration.noise_lag_m))
    except InputError:
        return maps, None, None  # too small or too sparse to measure: every gain
    used = usable_gains(tuple(maps), noise, fringe_spacing_m, calibration.noise_ratio)
    return maps, used, noise


def detect_displacement(
    model: PatchClassifier,
    displacement_m: ArrayLike,
    *,
    gains: Sequence[float] = DEFAULT_GAINS,
    offset_rad: float = 0.0,
    fringe_spacing_m: float = DEFAULT_FRINGE_SPACING_M,
    threshold: float = DEFAULT_THRESHOLD,
    method: str = "auto",
    config: PatchConfig | None = None,
    batch_size: int = 64,
    keep_maps: bool = False,
    calibration: Calibration | None = None,
    pixel_m: float | None = None,
) -> Detection:
    """Score LOS displacement at several wrap gains and fuse (Anantrasirichai et al. 2019b).

    Args:
        model: A 2-class detector network.
        displacement_m: Unwrapped LOS displacement, metres, ``(ny, nx)``; NaN = incoherent.
        gains: Wrap gains (default 1, 2, 4, 8).
        offset_rad: Phase offset ``tau`` added before wrapping, radians.
        fringe_spacing_m: LOS metres per fringe at gain 1 (default 0.028 m).
        threshold: Flag threshold (0.5).
        method: Inference path, ``"auto"``, ``"dense"`` or ``"sliding"``.
        config: Patch settings (Anantrasirichai et al. 2019a defaults).
        batch_size: Patches per forward pass on the sliding path.
        keep_maps: Keep each gain's map in the result.
        calibration: Calibrate each gain's map and leave out the gains the map's noise
            drowns (:func:`calibrated_fusion`); None fuses the raw maps of every gain.
        pixel_m: The map's pixel size, metres, for the noise lag (None: 100 m).
    """
    gain_list = check_gains(gains)
    d = np.asarray(displacement_m, dtype=np.float64)
    if d.ndim != 2 or d.size == 0:
        raise InputError(f"displacement_m must be a 2-D (ny, nx) array, got shape {d.shape}")
    if np.isinf(d).any() or not np.isfinite(d).any():
        raise InputError(
            "displacement_m must hold finite metres with NaN for incoherent pixels and at "
            "least one finite pixel"
        )
    shared = canny_mask(np.isfinite(d), (config or PatchConfig()).canny_sigma)
    results = probability_maps(
        model, [rewrap(d, g, offset_rad, fringe_spacing_m) for g in gain_list],
        method=method, config=config, batch_size=batch_size, canny_mask=shared,
    )
    raw = {g: result.prob_map for g, result in zip(gain_list, results, strict=True)}
    maps, used, noise = calibrated_fusion(raw, d, calibration, fringe_spacing_m, pixel_m)
    return fuse_maps(maps, threshold, keep_maps, evidence=displacement_evidence(d),
                     fuse_gains=used, noise_m=noise,
                     final=None if calibration is None else calibration.fused)


@dataclass(frozen=True)
class CnnDetector:
    """The multi-gain CNN as a detector of displacement maps (a ``monitor.ports.Detector``):
    :func:`detect_displacement` with its settings fixed, maps kept.

    Attributes:
        model: A 2-class detector network.
        gains: Wrap gains (default 1, 2, 4, 8).
        fringe_spacing_m: LOS metres per fringe at gain 1 (default 0.028 m).
        threshold: Flag threshold (0.5).
        method: Inference path, ``"auto"``, ``"dense"`` or ``"sliding"``.
        config: Patch configuration (default: the networks' 224 px patches, 28 px stride).
        calibration: The model's calibration and noise rule, or None for raw fusion.
        pixel_m: Pixel size of the maps, metres (None: 100 m), for the noise lag.
    """

    model: PatchClassifier
    gains: Sequence[float] = DEFAULT_GAINS
    fringe_spacing_m: float = DEFAULT_FRINGE_SPACING_M
    threshold: float = DEFAULT_THRESHOLD
    method: str = "auto"
    config: PatchConfig | None = None
    calibration: Calibration | None = None
    pixel_m: float | None = None

    def detect(self, displacement_m: NDArray[np.floating]) -> Detection:
        """Score ``displacement_m`` (LOS metres, ``(ny, nx)``, NaN = incoherent)."""
        return detect_displacement(self.model, displacement_m, gains=self.gains,
                                   fringe_spacing_m=self.fringe_spacing_m,
                                   threshold=self.threshold, method=self.method,
                                   config=self.config, keep_maps=True,
                                   calibration=self.calibration, pixel_m=self.pixel_m)


def detect_wrapped(
    model: PatchClassifier,
    wrapped_rad: ArrayLike,
    *,
    gains: Sequence[float] = DEFAULT_GAINS,
    threshold: float = DEFAULT_THRESHOLD,
    method: str = "auto",
    config: PatchConfig | None = None,
    batch_size: int = 64,
    keep_maps: bool = False,
    calibration: Calibration | None = None,
) -> Detection:
    """Score wrapped phase re-wrapped at integer gains and fuse (Anantrasirichai et al. 2019b).

    The phase is taken at the sensor's own fringe spacing (for Sentinel-1, 2.8 cm of LOS
    per fringe, the networks' reference); ``wrap(mu psi)`` is exact for integer ``mu``.

    Args:
        model: A 2-class detector network.
        wrapped_rad: Wrapped phase, radians in [-pi, pi], ``(ny, nx)``; NaN = incoherent.
        gains: Integer wrap gains (default 1, 2, 4, 8).
        threshold, method, config, batch_size, keep_maps: As :func:`detect_displacement`.
        calibration: Each gain's map is calibrated; wrapped phase has no amplitude to
            measure the noise of, so every gain is fused, and the last (fused) stage is
            applied only where it was fitted on fusions of every gain (no noise rule).
    """
    gain_list = check_gains(gains, integer=True)
    psi = check_wrapped(wrapped_rad)
    shared = canny_mask(np.isfinite(psi), (config or PatchConfig()).canny_sigma)
    results = probability_maps(
        model, [rewrap_phase(psi, int(g)) for g in gain_list], method=method,
        config=config, batch_size=batch_size, canny_mask=shared,
    )
    maps = {g: result.prob_map for g, result in zip(gain_list, results, strict=True)}
    final = None
    if calibration is not None:
        maps = {g: calibration.apply(g, m) for g, m in maps.items()}
        final = calibration.fused if calibration.noise_ratio is None else None
    return fuse_maps(maps, threshold, keep_maps, final=final)


def pixel_centre_lonlat(
    transform: Sequence[float], row: float, col: float
) -> tuple[float, float]:
    """Map coordinates of a pixel centre from an affine transform.

    Args:
        transform: ``(a, b, c, d, e, f)`` in the rasterio/affine order:
            ``x = a * col + b * row + c``, ``y = d * col + e * row + f``, for pixel corner
            coordinates (GDAL's geotransform orders them ``(c, a, b, f, d, e)``).
        row, col: Pixel indices (row 0 = first row, the north edge of a north-up raster).

    Returns:
        ``(x, y)`` of the pixel centre: (lon, lat) for a geographic CRS such as EPSG:4326.
    """
    vals = tuple(float(v) for v in transform)
    if len(vals) != 6 or not all(math.isfinite(v) for v in vals):
        raise InputError(
            f"transform must be 6 finite numbers (a, b, c, d, e, f), got {transform!r}"
        )
    a, b, c, d, e, f = vals
    x, y = col + 0.5, row + 0.5
    return a * x + b * y + c, d * x + e * y + f
