"""Gains that respect the noise, and probabilities that mean what they say.

**Noise of a map.** The robust standard deviation of the differences of the map at a lag
of :data:`DEFAULT_NOISE_LAG_M` (both axes pooled), divided by sqrt 2::

    noise = 1.4826 median |d(x + r) - d(x)| / sqrt(2),     r = 2 km

the square root of half the structure function ``D(r) = E[(d(x + r) - d(x))^2]`` (Hanssen
2001, Radar Interferometry, section 4.7; Emardson et al. 2003, J. Geophys. Res. 108(B5),
2231, doi:10.1029/2002JB001781, on the structure function of interferometric delays),
robust to a deformation that covers a small part of the map and to unwrapping
outliers. At 2 km it measures what the detector is misled by: how much the map varies on
the scale of a fringe pattern a few kilometres across.

**Gains that stand above it.** Re-wrapped at gain ``mu`` the map shows a fringe per
``F / mu`` of LOS (``F`` = 2.8 cm at gain 1 for Sentinel-1). When ``F / mu`` is below
``ratio * noise`` the noise alone draws fringes at that gain, as a deformation would, and
the network's probability at that gain says more about the atmosphere than about the
ground (measured on real Sentinel-1 epochs of Erta Ale: at gain 8, P > 0.5 on 95% of
quiet epochs). Such gains are left out of the fusion; the smallest gain is always kept.

**Calibration.** Each gain's probability is mapped by Platt scaling (Platt 1999,
"Probabilistic outputs for support vector machines and comparisons to regularized
likelihood methods", in Advances in Large Margin Classifiers, MIT Press, 61-74; Guo et
al. 2017, "On calibration of modern neural networks", ICML, arXiv:1706.04599, of which
temperature scaling is the one-parameter case)::

    P_cal = sigmoid(a logit(P) + b)

fitted by penalised maximum likelihood on map-level maxima of held-out real quiet epochs
(label 0) and semi-real positives (label 1). The fused probability is the mean of the
calibrated maps of the gains kept (Anantrasirichai et al. 2019b, equation 1, over fewer
gains). The mean of calibrated probabilities is not itself calibrated (a map fused from
gain 1 alone and one fused from gains 1, 2 and 4 sit on different scales), so a last
Platt scaling of the fused map, fitted on the same maps' fused maxima, makes P = 0.5 the
point where, on data like the calibration set, a map is as likely deformed as not.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize

from monitor.errors import InputError

#: Lag of the noise estimate, metres (module docstring).
DEFAULT_NOISE_LAG_M = 2000.0
#: Pixel spacing the networks are trained at, metres: the lag in pixels when the map's
#: pixel size is not known.
DEFAULT_PIXEL_M = 100.0
#: A gain is kept while its fringe spacing is at least this many noise levels.
DEFAULT_NOISE_RATIO = 2.0
#: Probabilities are clipped to [eps, 1 - eps] before the logit.
_EPS = 1e-6
#: L2 penalty on (a - 1, b) of the Platt fit: keeps a fit on few or separable samples
#: near the identity instead of a step.
DEFAULT_PLATT_PENALTY = 1e-2


def map_noise_m(displacement_m: ArrayLike, lag_px: int) -> float:
    """Robust noise of a map at a lag (module docstring), metres; NaN pixels ignored.

    Raises:
        InputError: not a 2-D map, a lag below 1 pixel, or fewer than 10 finite pairs of
            pixels at the lag.
    """
    d = np.asarray(displacement_m, dtype=np.float64)
    if d.ndim != 2:
        raise InputError(f"noise: the map must be 2-D (ny, nx), got shape {d.shape}")
    if lag_px < 1:
        raise InputError(f"noise: the lag must be at least 1 pixel, got {lag_px}")
    parts = []
    if d.shape[1] > lag_px:
        parts.append((d[:, lag_px:] - d[:, :-lag_px]).ravel())
    if d.shape[0] > lag_px:
        parts.append((d[lag_px:, :] - d[:-lag_px, :]).ravel())
    diffs = np.concatenate(parts) if parts else np.empty(0)
    diffs = diffs[np.isfinite(diffs)]
    if diffs.size < 10:
        raise InputError(f"noise: only {diffs.size} finite pixel pairs {lag_px} px apart "
                         f"in a {d.shape[0]} x {d.shape[1]} map; need at least 10")
    return float(1.4826 * np.median(np.abs(diffs)) / math.sqrt(2.0))


def lag_pixels(pixel_m: float | None, lag_m: float = DEFAULT_NOISE_LAG_M) -> int:
    """The noise lag in pixels of ``pixel_m`` metres (None: the networks' 100 m)."""
    px = DEFAULT_PIXEL_M if pixel_m is None else float(pixel_m)
    if not (px > 0 and math.isfinite(px)):
        raise InputError(f"noise: pixel size must be a positive number of metres, got {px}")
    return max(1, round(lag_m / px))


def usable_gains(gains: Sequence[float], noise_m: float, fringe_spacing_m: float,
                 ratio: float) -> tuple[float, ...]:
    """The gains whose fringe spacing ``F / mu`` is at least ``ratio * noise_m``, in the
    order given; the smallest gain is always kept."""
    smallest = min(gains)
    return tuple(g for g in gains
                 if g == smallest or fringe_spacing_m / g >= ratio * noise_m)


def _logit(p: NDArray[np.float64]) -> NDArray[np.float64]:
    q = np.clip(p, _EPS, 1.0 - _EPS)
    return np.log(q) - np.log1p(-q)


@dataclass(frozen=True)
class PlattScaling:
    """``P_cal = sigmoid(slope * logit(P) + intercept)``; the identity is (1, 0)."""

    slope: float = 1.0
    intercept: float = 0.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.slope) and math.isfinite(self.intercept)
                and self.slope > 0):
            raise InputError(f"calibration: Platt slope must be positive and both terms "
                             f"finite, got ({self.slope}, {self.intercept})")

    def apply(self, p: ArrayLike) -> NDArray[np.float32]:
        """Calibrated probabilities, the shape of ``p``."""
        z = self.slope * _logit(np.asarray(p, dtype=np.float64)) + self.intercept
        return (0.5 * (1.0 + np.tanh(0.5 * z))).astype(np.float32)


def fit_platt(p: ArrayLike, y: ArrayLike, penalty: float = DEFAULT_PLATT_PENALTY
              ) -> PlattScaling:
    """Fit Platt scaling to probabilities ``p`` with labels ``y`` (0/1) by penalised
    maximum likelihood (module docstring).

    Raises:
        InputError: fewer than 2 samples of either class, or mismatched arrays.
    """
    pp = np.asarray(p, dtype=np.float64).ravel()
    yy = np.asarray(y, dtype=np.float64).ravel()
    if pp.shape != yy.shape or not np.isin(yy, (0.0, 1.0)).all():
        raise InputError("calibration: p and y must have the same length, y holding 0/1")
    if min(int(yy.sum()), int((1 - yy).sum())) < 2:
        raise InputError(f"calibration: need at least 2 samples of each class, got "
                         f"{int((1 - yy).sum())} negatives and {int(yy.sum())} positives")
    z = _logit(pp)
    n = len(pp)

    def loss(theta: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
        a, b = theta
        s = a * z + b
        # log(1 + e^s) - y s, stably
        nll = np.logaddexp(0.0, s) - yy * s
        r = 0.5 * (1.0 + np.tanh(0.5 * s)) - yy
        grad = np.array([np.dot(r, z), r.sum()]) / n
        pen = penalty * ((a - 1.0) ** 2 + b ** 2)
        return float(nll.mean() + pen), grad + 2 * penalty * np.array([a - 1.0, b])

    res = minimize(loss, np.array([1.0, 0.0]), jac=True, method="L-BFGS-B",
                   bounds=[(1e-3, 1e3), (-1e3, 1e3)])
    return PlattScaling(float(res.x[0]), float(res.x[1]))


@dataclass(frozen=True)
class Calibration:
    """What the detector does with each gain's probability map.

    Attributes:
        per_gain: Platt scaling of each gain (gains missing here are left raw).
        noise_ratio: Gains whose fringe spacing is below ``noise_ratio`` times the map's
            noise are left out of the fusion; None keeps every gain.
        noise_lag_m: Lag of the noise estimate, metres.
        fitted_on: Provenance of the fit (data, years, counts), stored with the model.
        fused: Platt scaling of the fused map (module docstring), or None.
    """

    per_gain: Mapping[float, PlattScaling] = field(default_factory=dict)
    noise_ratio: float | None = DEFAULT_NOISE_RATIO
    noise_lag_m: float = DEFAULT_NOISE_LAG_M
    fitted_on: Mapping[str, Any] = field(default_factory=dict)
    fused: PlattScaling | None = None

    def __post_init__(self) -> None:
        if self.noise_ratio is not None and not (self.noise_ratio > 0
                                                 and math.isfinite(self.noise_ratio)):
            raise InputError(f"calibration: noise_ratio must be positive, got "
                             f"{self.noise_ratio}")
        if not (self.noise_lag_m > 0 and math.isfinite(self.noise_lag_m)):
            raise InputError(f"calibration: noise_lag_m must be positive, got "
                             f"{self.noise_lag_m}")

    def apply(self, gain: float, p: ArrayLike) -> NDArray[np.float32]:
        """Gain ``gain``'s probabilities, calibrated (raw where it has no scaling)."""
        scaling = self.per_gain.get(float(gain))
        arr = np.asarray(p, dtype=np.float32)
        return scaling.apply(arr) if scaling is not None else arr

    def to_meta(self) -> dict[str, Any]:
        """Plain values for the model file's ``meta["calibration"]``."""
        return {"method": "platt", "noise_ratio": self.noise_ratio,
                "noise_lag_m": self.noise_lag_m,
                "per_gain": {f"{g:g}": [s.slope, s.intercept]
                             for g, s in sorted(self.per_gain.items())},
                "fused": (None if self.fused is None
                          else [self.fused.slope, self.fused.intercept]),
                "fitted_on": dict(self.fitted_on)}

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any], where: str) -> Calibration:
        """Read :meth:`to_meta`'s record; an error naming ``where`` when malformed."""
        try:
            if meta.get("method") != "platt":
                raise ValueError(f"method {meta.get('method')!r} is not 'platt'")
            per_gain = {float(g): PlattScaling(float(v[0]), float(v[1]))
                        for g, v in dict(meta.get("per_gain", {})).items()}
            ratio = meta.get("noise_ratio")
            fused = meta.get("fused")
            return cls(per_gain, None if ratio is None else float(ratio),
                       float(meta.get("noise_lag_m", DEFAULT_NOISE_LAG_M)),
                       dict(meta.get("fitted_on", {})),
                       None if fused is None else PlattScaling(float(fused[0]),
                                                               float(fused[1])))
        except (TypeError, ValueError, KeyError, IndexError, InputError) as exc:
            raise InputError(f"{where}: malformed calibration record ({exc})") from None


#: No calibration and every gain: the fusion of Anantrasirichai et al. (2019b) as it is.
UNCALIBRATED = Calibration(noise_ratio=None)


@dataclass(frozen=True)
class ReliabilityBin:
    """One bin of a reliability diagram: predictions in ``[lo, hi)``."""

    lo: float
    hi: float
    n: int
    mean_p: float
    positive_fraction: float


def reliability(p: ArrayLike, y: ArrayLike, n_bins: int = 10
                ) -> tuple[list[ReliabilityBin], float]:
    """Reliability diagram (equal-width bins) and expected calibration error (Guo et al.
    2017: the bins' ``|positive fraction - mean P|`` weighted by their share)."""
    pp = np.asarray(p, dtype=np.float64).ravel()
    yy = np.asarray(y, dtype=np.float64).ravel()
    if pp.shape != yy.shape or pp.size == 0:
        raise InputError("reliability: p and y must be non-empty and of one length")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    idx = np.clip(np.digitize(pp, edges[1:-1]), 0, n_bins - 1)
    bins, ece = [], 0.0
    for k in range(n_bins):
        sel = idx == k
        if not sel.any():
            continue
        mp, fp = float(pp[sel].mean()), float(yy[sel].mean())
        bins.append(ReliabilityBin(float(edges[k]), float(edges[k + 1]), int(sel.sum()),
                                   mp, fp))
        ece += sel.mean() * abs(fp - mp)
    return bins, float(ece)
