"""Detector evaluation: Anantrasirichai et al. (2019b) threshold protocol, sigmoid fits, ROC.

Threshold protocol (Anantrasirichai et al. 2019b, section 2.2 and figure 2): 405 synthetic
interferograms ``X = D + alpha S + beta T`` with ``alpha, beta`` in {0, 0.5, 1}, where D is
the LOS displacement of a Mogi source at depth 3, 4 or 5 km, seen at incidence 1, 23 or 44
degrees, with volume change ``10^nu`` m^3, ``nu`` in {5, 5.5, 6, 6.5, 7} (45 deformations).
The probability P the detector gives each one is plotted against the maximum displacement
and a sigmoid ``f(x) = 1 / (1 + exp(-a (x - b)))`` is fitted; the detection threshold is
``b``, where ``f = 0.5`` (Anantrasirichai et al. 2019b, section 3.1: 3.9 cm with
alpha = beta = 0, 6.3 cm with alpha = beta = 1, 5.0-5.2 cm with a wrap gain of 2).

What Anantrasirichai et al. (2019b) used and what this module uses instead (state these
with every result):

* S: the paper takes one GACOS map of Beru volcano (2017-01-04 to 2017-03-17). Without
  GACOS, S here is one fixed stratified delay over a real DEM passed in (the CLI uses the
  SRTM crop of Agung, 0-2993 m, a tall edifice under the source), ``S = -(k1 dh + k2
  dh^2) / cos(incidence)``, ``dh`` the height above the lowest pixel; default
  ``k1 = 1 cm/km`` (the low end of :data:`monitor.science.atmosphere`'s "strong" range)
  and ``k2 = -k1 / (4 * 2 km)`` (half the curvature of a delay decaying with a 2 km
  scale height). The minus sign is the generator's: a delay reads as motion away from
  the satellite, so over a summit S opposes the uplift of an inflating source.
* T: exponential covariance with ``sigma^2 = 7.5 mm^2`` and ``L = 8 km`` (as the paper); one
  field per deformation (45 fields, generator ``default_rng([seed, k])``), shared by the 9
  (alpha, beta) pairs of that deformation so that they differ only in the weights. With
  ``turbulence="powerlaw"`` T is instead a power-law field (2-D spectrum ``k^-beta``,
  default 8/3; :func:`monitor.science.turbulence.powerlaw_delay`, Hanssen 2001, section
  4.7) whose standard deviation over the grid is ``sigma``: the same variance, another
  spectrum (the exponential field's ``sigma`` is its pointwise standard deviation, so its
  standard deviation over a 22 km grid is somewhat lower).
* No decorrelation (the paper has none). Heading does not change the maximum of |D| of a
  Mogi source (the pattern only rotates); the default is 190 degrees (Sentinel-1
  descending).

ROC: :func:`roc_curve` and :func:`confusion_at` score a held-out labelled set
(Anantrasirichai et al. 2019a report accuracy, recall and PPV = precision; 2019b reports
ROC and AUC).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import curve_fit
from scipy.special import expit

from monitor.errors import InputError
from monitor.science.atmosphere import stratified_delay, turbulent_delay
from monitor.science.detect.threshold_protocol import (  # 2019b section 2.2; re-exported
    PROTOCOL_DEPTHS_M as PROTOCOL_DEPTHS_M,
)
from monitor.science.detect.threshold_protocol import (
    PROTOCOL_INCIDENCES_DEG as PROTOCOL_INCIDENCES_DEG,
)
from monitor.science.detect.threshold_protocol import (
    PROTOCOL_LOG10_VOLUMES_M3 as PROTOCOL_LOG10_VOLUMES_M3,
)
from monitor.science.detect.threshold_protocol import (
    PROTOCOL_TURBULENT_LENGTH_M as PROTOCOL_TURBULENT_LENGTH_M,
)
from monitor.science.detect.threshold_protocol import (
    PROTOCOL_TURBULENT_SIGMA_M as PROTOCOL_TURBULENT_SIGMA_M,
)
from monitor.science.detect.threshold_protocol import PROTOCOL_WEIGHTS as PROTOCOL_WEIGHTS
from monitor.science.geometry import project_to_los
from monitor.science.grids import check_grid, grid_xy
from monitor.science.sources import mogi
from monitor.science.turbulence import KOLMOGOROV_BETA, powerlaw_delay

#: Turbulence models of the protocol: the paper's exponential covariance, or a power law.
PROTOCOL_TURBULENCE_KINDS = ("exponential", "powerlaw")

#: Default stratified coefficients (module docstring).
DEFAULT_STRAT_K1_M_PER_M = 1.0e-5
DEFAULT_STRAT_K2_M_PER_M2 = -DEFAULT_STRAT_K1_M_PER_M / (4.0 * 2000.0)
#: P level that defines the detection threshold (the P > 0.5 flag of Anantrasirichai et al.
#: 2019a).
THRESHOLD_LEVEL = 0.5


@dataclass(frozen=True)
class ThresholdProtocol:
    """Parameters of the threshold protocol (defaults: Anantrasirichai et al. 2019b, above).

    Attributes:
        shape: Grid ``(ny, nx)``, pixels.
        pixel_m: Pixel spacing, metres.
        depths_m: Mogi depths, metres.
        incidences_deg: Incidence angles, degrees.
        log10_volumes_m3: ``log10`` of the volume changes (m^3).
        alphas: Weights of S.
        betas: Weights of T.
        heading_deg: Flight heading, degrees clockwise from north.
        nu: Poisson's ratio of the Mogi source.
        strat_k1_m_per_m: Linear stratified coefficient, metres of zenith delay per metre.
        strat_k2_m_per_m2: Quadratic stratified coefficient, metres per metre^2.
        turbulent_sigma_m: Standard deviation of T, metres.
        turbulent_length_m: E-folding length of T, metres (exponential T only).
        seed: Seed of the turbulent fields.
        turbulence: ``"exponential"`` (the paper) or ``"powerlaw"`` (module docstring).
        powerlaw_beta: 2-D spectral exponent of a power-law T.
    """

    shape: tuple[int, int] = (224, 224)
    pixel_m: float = 100.0
    depths_m: tuple[float, ...] = PROTOCOL_DEPTHS_M
    incidences_deg: tuple[float, ...] = PROTOCOL_INCIDENCES_DEG
    log10_volumes_m3: tuple[float, ...] = PROTOCOL_LOG10_VOLUMES_M3
    alphas: tuple[float, ...] = PROTOCOL_WEIGHTS
    betas: tuple[float, ...] = PROTOCOL_WEIGHTS
    heading_deg: float = 190.0
    nu: float = 0.25
    strat_k1_m_per_m: float = DEFAULT_STRAT_K1_M_PER_M
    strat_k2_m_per_m2: float = DEFAULT_STRAT_K2_M_PER_M2
    turbulent_sigma_m: float = PROTOCOL_TURBULENT_SIGMA_M
    turbulent_length_m: float = PROTOCOL_TURBULENT_LENGTH_M
    seed: int = 3
    turbulence: str = "exponential"
    powerlaw_beta: float = KOLMOGOROV_BETA

    def __post_init__(self) -> None:
        check_grid(self.shape, self.pixel_m)
        if self.turbulence not in PROTOCOL_TURBULENCE_KINDS:
            raise InputError(f"protocol: turbulence must be one of "
                             f"{', '.join(PROTOCOL_TURBULENCE_KINDS)}, got {self.turbulence!r}")
        if not (math.isfinite(self.powerlaw_beta) and 0 <= self.powerlaw_beta <= 6):
            raise InputError(f"protocol: powerlaw_beta must lie in [0, 6], "
                             f"got {self.powerlaw_beta}")
        for name in ("depths_m", "incidences_deg", "log10_volumes_m3", "alphas", "betas"):
            values = getattr(self, name)
            if not values or not all(math.isfinite(v) for v in values) \
                    or len(set(values)) != len(values):
                raise InputError(f"protocol: {name} must be distinct finite numbers, "
                                 f"got {values!r}")
        if min(self.depths_m) <= 0:
            raise InputError(f"protocol: depths_m must be > 0, got {self.depths_m!r}")
        if not all(0 <= i < 90 for i in self.incidences_deg):
            raise InputError(f"protocol: incidences_deg must lie in [0, 90), "
                             f"got {self.incidences_deg!r}")
        if min(self.alphas) < 0 or min(self.betas) < 0:
            raise InputError(f"protocol: alphas and betas must be >= 0, got "
                             f"{self.alphas!r}, {self.betas!r}")
        for name in ("heading_deg", "strat_k1_m_per_m", "strat_k2_m_per_m2"):
            if not math.isfinite(getattr(self, name)):
                raise InputError(f"protocol: {name} must be finite, got {getattr(self, name)}")
        if not (self.turbulent_sigma_m >= 0 and self.turbulent_length_m > 0):
            raise InputError(f"protocol: turbulent_sigma_m must be >= 0 and "
                             f"turbulent_length_m > 0, got {self.turbulent_sigma_m}, "
                             f"{self.turbulent_length_m}")
        if not 0 < self.nu < 0.5:
            raise InputError(f"protocol: nu must lie in (0, 0.5), got {self.nu}")

    @property
    def n_deformations(self) -> int:
        return len(self.depths_m) * len(self.incidences_deg) * len(self.log10_volumes_m3)

    @property
    def n_cases(self) -> int:
        return self.n_deformations * len(self.alphas) * len(self.betas)


@dataclass(frozen=True)
class MogiSpec:
    """One deformation D of the protocol (the source sits at the grid centre)."""

    index: int
    depth_m: float
    incidence_deg: float
    dvolume_m3: float


@dataclass(frozen=True)
class ProtocolCase:
    """One interferogram ``X = D + alpha S + beta T`` of the protocol."""

    deformation: MogiSpec
    alpha: float
    beta: float


@dataclass(frozen=True, eq=False)
class ProtocolSample:
    """A generated interferogram with its case and maximum |D|.

    Attributes:
        case: The protocol case.
        max_abs_d_m: Maximum of |D| over the grid, LOS metres (the x axis of figure 2 of
            Anantrasirichai et al. 2019b).
        x: ``X = D + alpha S + beta T``, LOS metres, float32 ``shape``.
    """

    case: ProtocolCase
    max_abs_d_m: float
    x: NDArray[np.float32]


def deformation_specs(protocol: ThresholdProtocol) -> tuple[MogiSpec, ...]:
    """The deformations of the protocol (45 in Anantrasirichai et al. 2019b), depth-major order."""
    combos = itertools.product(protocol.depths_m, protocol.incidences_deg,
                               protocol.log10_volumes_m3)
    return tuple(MogiSpec(k, float(d), float(i), float(10.0 ** v))
                 for k, (d, i, v) in enumerate(combos))


def protocol_cases(protocol: ThresholdProtocol) -> tuple[ProtocolCase, ...]:
    """Every case: each deformation with each (alpha, beta) (405 in Anantrasirichai et al.
    2019b)."""
    return tuple(ProtocolCase(spec, float(a), float(b))
                 for spec in deformation_specs(protocol)
                 for a in protocol.alphas for b in protocol.betas)


def mogi_los(spec: MogiSpec, protocol: ThresholdProtocol) -> NDArray[np.float32]:
    """D: LOS displacement of the spec's Mogi source at the grid centre, metres ``shape``."""
    x, y = grid_xy(protocol.shape, protocol.pixel_m)
    enu = mogi(x, y, depth_m=spec.depth_m, dvolume_m3=spec.dvolume_m3, nu=protocol.nu)
    return project_to_los(enu.east, enu.north, enu.up, spec.incidence_deg,
                          protocol.heading_deg)


def stratified_los(dem_m: ArrayLike, protocol: ThresholdProtocol,
                   incidence_deg: float) -> NDArray[np.float32]:
    """S: the protocol's stratified delay over ``dem_m`` in LOS metres (module docstring).

    Args:
        dem_m: Heights, metres, ``protocol.shape``.
        protocol: Gives ``k1``, ``k2``.
        incidence_deg: Incidence, degrees (zenith to LOS: ``1 / cos``).
    """
    dem = np.asarray(dem_m, dtype=np.float64)
    if dem.shape != tuple(protocol.shape) or not np.isfinite(dem).all():
        raise InputError(f"protocol: dem_m must be finite heights of shape "
                         f"{tuple(protocol.shape)}, got shape {dem.shape}")
    zenith = stratified_delay(dem, protocol.strat_k1_m_per_m, protocol.strat_k2_m_per_m2)
    return np.asarray(-zenith / math.cos(math.radians(incidence_deg)), dtype=np.float32)


def turbulent_los(protocol: ThresholdProtocol, key: int) -> NDArray[np.float32]:
    """T for deformation ``key``: drawn with ``default_rng([protocol.seed, key])``."""
    rng = np.random.default_rng([protocol.seed, key])
    if protocol.turbulence == "powerlaw":
        return powerlaw_delay(protocol.shape, protocol.pixel_m, protocol.turbulent_sigma_m,
                              rng, beta=protocol.powerlaw_beta)
    return turbulent_delay(protocol.shape, protocol.pixel_m, protocol.turbulent_sigma_m,
                           protocol.turbulent_length_m, rng)


def protocol_samples(protocol: ThresholdProtocol,
                     dem_m: ArrayLike) -> Iterator[ProtocolSample]:
    """Generate the protocol's interferograms lazily, in :func:`protocol_cases` order.

    Args:
        protocol: The protocol.
        dem_m: Heights for S, metres, ``protocol.shape`` (e.g. a real SRTM crop).

    Yields:
        One :class:`ProtocolSample` per case.
    """
    s_by_incidence = {inc: stratified_los(dem_m, protocol, inc)
                      for inc in protocol.incidences_deg}
    for spec in deformation_specs(protocol):
        d = mogi_los(spec, protocol)
        t = turbulent_los(protocol, spec.index)
        s = s_by_incidence[spec.incidence_deg]
        peak = float(np.max(np.abs(d)))
        for a in protocol.alphas:
            for b in protocol.betas:
                x = (d + np.float32(a) * s + np.float32(b) * t).astype(np.float32)
                yield ProtocolSample(ProtocolCase(spec, float(a), float(b)), peak, x)


# --------------------------------------------------------------------------- sigmoid fits


def sigmoid(x: ArrayLike, x0: float, scale: float) -> NDArray[np.float64]:
    """``1 / (1 + exp(-(x - x0) / scale))``: Anantrasirichai et al. (2019b) with
    ``a = 1 / scale``, ``b = x0``."""
    return np.asarray(expit((np.asarray(x, dtype=np.float64) - x0) / scale))


@dataclass(frozen=True)
class SigmoidFit:
    """A sigmoid fitted to (displacement, P) points.

    Attributes:
        threshold: Displacement where the sigmoid is 0.5 (the detection threshold), in the
            units of the x given; NaN unless ``status`` is ``"fit"``.
        scale: Width of the transition, ``1 / a``: in x units, or in decades of x when
            ``log_x``; NaN without a fit.
        status: ``"fit"`` (threshold within the x range); ``"below_range"`` (every P > 0.5,
            or the fitted crossing lies below the smallest x: the threshold is below
            ``x_min``); ``"above_range"`` (no P > 0.5, or the crossing lies above the
            largest x); ``"failed"`` (the least-squares fit did not converge).
        rmse: Root-mean-square residual of P (NaN without a fit).
        n: Number of points.
        log_x: True when fitted in ``log10(x)``.
        x_min: Smallest x.
        x_max: Largest x.
    """

    threshold: float
    scale: float
    status: str
    rmse: float
    n: int
    log_x: bool
    x_min: float
    x_max: float


def fit_sigmoid(x: ArrayLike, p: ArrayLike, *, log_x: bool = False) -> SigmoidFit:
    """Least-squares fit of ``P = 1 / (1 + exp(-(x - x0) / s))`` (Anantrasirichai et al.
    2019b, section 3.1).

    Anantrasirichai et al. (2019b) fit ``f(x) = (1 + exp(-a (x - b)))^-1`` to P against the
    maximum displacement; the detection threshold is ``b``. With ``log_x`` the fit is in
    ``log10(x)`` instead (useful when x spans decades), and the threshold is ``10^b``.

    Args:
        x: Maximum displacements (any unit; > 0 with ``log_x``), shape ``(n,)``.
        p: Probabilities in [0, 1], shape ``(n,)``.
        log_x: Fit in ``log10(x)``.

    Returns:
        The :class:`SigmoidFit`.

    Raises:
        InputError: Shapes differ, fewer than 3 points, non-finite values, P outside
            [0, 1], or x <= 0 with ``log_x``.
    """
    xs = np.asarray(x, dtype=np.float64).ravel()
    ps = np.asarray(p, dtype=np.float64).ravel()
    if xs.shape != ps.shape or xs.size < 3:
        raise InputError(f"fit_sigmoid: x and p must be 1-D of equal length >= 3, got "
                         f"{np.shape(x)} and {np.shape(p)}")
    if not (np.isfinite(xs).all() and np.isfinite(ps).all()):
        raise InputError("fit_sigmoid: x and p must be finite")
    if ps.min() < 0 or ps.max() > 1:
        raise InputError(f"fit_sigmoid: p must lie in [0, 1], got {ps.min()}..{ps.max()}")
    if log_x and xs.min() <= 0:
        raise InputError(f"fit_sigmoid: x must be > 0 with log_x, got min {xs.min()}")
    n, x_min, x_max = int(xs.size), float(xs.min()), float(xs.max())
    above = ps > THRESHOLD_LEVEL
    if above.all() or not above.any():
        status = "below_range" if above.all() else "above_range"
        return SigmoidFit(math.nan, math.nan, status, math.nan, n, log_x, x_min, x_max)
    u = np.log10(xs) if log_x else xs
    lo, span = float(u.min()), float(np.ptp(u)) or 1.0
    un = (u - lo) / span

    def model(v: NDArray[np.float64], c: float, s: float) -> NDArray[np.float64]:
        return sigmoid(v, c, s)

    best: tuple[float, float, float] | None = None
    for c0 in np.linspace(0.05, 0.95, 10):
        try:
            popt, _ = curve_fit(model, un, ps, p0=(c0, 0.05),
                                bounds=([-1.0, 1e-5], [2.0, 10.0]), method="trf")
        except (RuntimeError, ValueError):
            continue
        sse = float(np.sum((model(un, *popt) - ps) ** 2))
        if best is None or sse < best[2]:
            best = (float(popt[0]), float(popt[1]), sse)
    if best is None:
        return SigmoidFit(math.nan, math.nan, "failed", math.nan, n, log_x, x_min, x_max)
    c, s, sse = best
    centre = lo + c * span
    threshold = 10.0 ** centre if log_x else centre
    rmse = math.sqrt(sse / n)
    if threshold < x_min or threshold > x_max:
        status = "below_range" if threshold < x_min else "above_range"
        return SigmoidFit(math.nan, s * span, status, rmse, n, log_x, x_min, x_max)
    return SigmoidFit(threshold, s * span, "fit", rmse, n, log_x, x_min, x_max)


def fitted_curve(fit: SigmoidFit, x: ArrayLike) -> NDArray[np.float64]:
    """The fitted sigmoid evaluated at ``x`` (NaN when there is no fit)."""
    xs = np.asarray(x, dtype=np.float64)
    if not math.isfinite(fit.threshold):
        return np.full(xs.shape, np.nan)
    if fit.log_x:
        return sigmoid(np.log10(xs), math.log10(fit.threshold), fit.scale)
    return sigmoid(xs, fit.threshold, fit.scale)


# --------------------------------------------------------------------------- ROC


@dataclass(frozen=True, eq=False)
class RocCurve:
    """A receiver operating characteristic.

    Attributes:
        fpr: False-positive rates, increasing from 0 to 1, shape ``(k,)``.
        tpr: True-positive rates, shape ``(k,)``.
        thresholds: Point ``i`` flags scores ``>= thresholds[i]`` (``inf`` for (0, 0)).
        auc: Area under the curve (trapezoids; ties count half, as Mann-Whitney).
    """

    fpr: NDArray[np.float64]
    tpr: NDArray[np.float64]
    thresholds: NDArray[np.float64]
    auc: float


def _scores_labels(scores: ArrayLike,
                   labels: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(labels).ravel()
    if s.shape != y.shape or s.size == 0:
        raise InputError(f"scores and labels must be 1-D of equal, non-zero length, got "
                         f"{np.shape(scores)} and {np.shape(labels)}")
    if not np.isfinite(s).all():
        raise InputError("scores must be finite")
    if not np.isin(y, (0, 1)).all():
        raise InputError("labels must be 0 (no deformation) or 1 (deformation)")
    return s, y == 1


def roc_curve(scores: ArrayLike, labels: ArrayLike) -> RocCurve:
    """ROC of scores against 0/1 labels (Anantrasirichai et al. 2019b, section 3.3).

    Args:
        scores: Per-image scores (fused P_max), shape ``(n,)``.
        labels: 1 = deformation, 0 = none, shape ``(n,)``; both classes needed.

    Returns:
        The :class:`RocCurve`.
    """
    s, pos = _scores_labels(scores, labels)
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        raise InputError(f"roc_curve needs both classes, got {n_pos} positives and "
                         f"{n_neg} negatives")
    order = np.argsort(-s, kind="mergesort")
    s_sorted, y_sorted = s[order], pos[order]
    last = np.r_[np.nonzero(np.diff(s_sorted))[0], s.size - 1]
    tps = np.cumsum(y_sorted)[last]
    fps = last + 1 - tps
    tpr = np.r_[0.0, tps / n_pos]
    fpr = np.r_[0.0, fps / n_neg]
    thresholds = np.r_[np.inf, s_sorted[last]]
    auc = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0))
    return RocCurve(fpr, tpr, thresholds, auc)


@dataclass(frozen=True)
class Confusion:
    """Counts at one threshold (flag = score > threshold) and the rates derived."""

    threshold: float
    tp: int
    fp: int
    tn: int
    fn: int

    @property
    def precision(self) -> float:
        """PPV, the figure of merit of Anantrasirichai et al. (2019a); NaN when nothing is
        flagged."""
        flagged = self.tp + self.fp
        return self.tp / flagged if flagged else math.nan

    @property
    def recall(self) -> float:
        """True-positive rate; NaN without positives."""
        positives = self.tp + self.fn
        return self.tp / positives if positives else math.nan

    @property
    def false_positive_rate(self) -> float:
        """Flagged fraction of the negatives; NaN without negatives."""
        negatives = self.fp + self.tn
        return self.fp / negatives if negatives else math.nan

    @property
    def accuracy(self) -> float:
        return (self.tp + self.tn) / (self.tp + self.fp + self.tn + self.fn)


def confusion_at(scores: ArrayLike, labels: ArrayLike,
                 threshold: float = THRESHOLD_LEVEL) -> Confusion:
    """Counts of flagged (score > threshold) images by class."""
    s, pos = _scores_labels(scores, labels)
    flag = s > threshold
    return Confusion(float(threshold), int((flag & pos).sum()), int((flag & ~pos).sum()),
                     int((~flag & ~pos).sum()), int((~flag & pos).sum()))


def recall_by_bin(values: ArrayLike, flags: ArrayLike,
                  edges: Sequence[float]) -> list[tuple[float, float, int, float]]:
    """Fraction flagged within bins of a value (e.g. positives by peak LOS).

    Args:
        values: Binning value per image, shape ``(n,)``.
        flags: True where flagged, shape ``(n,)``.
        edges: Increasing bin edges; bin ``i`` is ``[edges[i], edges[i + 1])``.

    Returns:
        ``(low, high, count, fraction flagged)`` per bin (fraction NaN when empty).
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    f = np.asarray(flags, dtype=bool).ravel()
    e = [float(x) for x in edges]
    if v.shape != f.shape or len(e) < 2 or any(b <= a for a, b in itertools.pairwise(e)):
        raise InputError("recall_by_bin: values and flags must match and edges increase")
    out = []
    for a, b in itertools.pairwise(e):
        inside = (v >= a) & (v < b)
        count = int(inside.sum())
        out.append((a, b, count, float(f[inside].mean()) if count else math.nan))
    return out
