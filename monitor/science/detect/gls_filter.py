"""A source-model matched filter that knows the noise: generalised least squares.

The white-noise matched filter (:mod:`monitor.science.detect.matched_filter`) weighs every
pixel alike, so kilometre-scale atmosphere, which real interferograms are full of, looks
to it like a source. This filter whitens the map with the frame's own noise correlation
(:mod:`monitor.science.noise_covariance`, estimated from quiet maps of other dates) and
asks, for each Mogi template ``s_k`` of the same grid as the white filter's (2-5 km deep
within 3 km of the centre), with a plane and, where the frame's heights are given, the
height as nuisance ``X``, on the block-averaged map ``d`` whose valid blocks have
correlation ``R``:

    P = I - W X (X' W' W X)^-1 X' W',  W = chol(R)^-1
    a_k = (P W s_k)' (P W d) / |P W s_k|^2
    sigma_k^2 = (|P W d|^2 - a_k^2 |P W s_k|^2) / (n - p - 1),  p = columns of X
    sigma_o^2 = |P_o W_o d_o|^2 / (n_o - p)
    t_k = a_k |P W s_k| / min(sigma_k, sigma_o)
    score = max_k |t_k|

``sigma_k`` is the map's own noise scale from its whole residual after the template (the
textbook t); ``sigma_o`` the same measured on the ``n_o`` valid blocks farther than
``scale_beyond_m`` from the centre alone (``_o``: those blocks, their correlation and
nuisance), where the templates' sources are not, as the LSTT measures its null on
reference regions. The whole residual is the better estimate when a template fits; when
none does, a large source inflates it: the real dyke intrusion of January 2017 at Erta
Ale (17 cm) scored 1.3-1.6 times the threshold with ``sigma_k`` alone, 5.6-6.9 times with
the smaller of the two, while the AUC of injected Mogi sources on the validation years
stayed within 0.001 (with ``sigma_o`` alone it fell by 0.009; ``docs/detection.md``).
Both are estimates of one scale under the null, and the empirical threshold (below) is
taken on the same statistic. Maps with fewer than :data:`MIN_VALID_BLOCKS` valid blocks
that far, and a filter with ``scale_beyond_m`` None, use ``sigma_k``.

The height column is the stratified tropospheric delay: on one date it is close to linear
in elevation across a frame, with a coefficient that changes from date to date (Doin et
al. 2009, J. Appl. Geophys. 69, 35-50), so each map gets its own. It is the largest
component of the real noise that a stationary correlation cannot describe: it follows the
relief, not the distance between pixels. A volcano's summit is also where a source sits,
so the column costs the part of a template that looks like the relief, and buys back
more: on the real Erta Ale frame (Sentinel-1 014A) the AUC of 2 cm and larger injected
sources rises from 0.89-0.94 to 0.93-0.97 in every block of years
(``bench/bench_real_bound.py``; ``docs/detection.md``).

``t_k`` is the GLS t statistic of the template's amplitude with the map's own noise
scale (Kay 1998, Fundamentals of Statistical Signal Processing, vol. II: Detection
Theory, Prentice Hall, sections 7.3 and 9.4); ``score`` is the generalised likelihood
ratio over the template grid.

Were the noise Gaussian with exactly ``R``, ``t_k`` would be Student-t and the Bonferroni
bound of the ``K`` two-sided tests (``z = Phi^-1(1 - alpha / 2K)``, 3.5 for the 116
templates at 5%) a valid threshold. ``R`` is an estimate, shrunk towards a fitted
exponential and regularised (:data:`monitor.science.noise_covariance.PRIOR_MAPS`,
:data:`~monitor.science.noise_covariance.EIGEN_FLOOR`), and real noise is not Gaussian:
on the generator's exponential turbulence the oracle ``t`` scatters by about 3, not 1.
So the threshold is taken from the frame itself: the conformal ``1 - alpha`` quantile of
``score`` over quiet maps of other dates (:func:`null_quantile`,
:meth:`GlsMogiFilter.with_null_threshold`), an empirical null; the Bonferroni bound is
only the default of a filter without one.

Like the white filter it is a reference that knows the family of the injected sources,
not a watch detector: its separation of injected from real quiet maps says what a single
map of the frame can tell about such a source when the noise is weighed properly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache

import numpy as np
from numpy.typing import NDArray
from scipy.linalg import cholesky, solve_triangular
from scipy.stats import norm

from monitor.errors import InputError
from monitor.science.detect.fusion import Detection
from monitor.science.detect.matched_filter import (
    DEFAULT_DEPTHS_M,
    DEFAULT_MAX_OFFSET_M,
    DEFAULT_STEP_M,
    check_template_grid,
    mogi_templates,
    template_positions,
)
from monitor.science.injection import S1_ASCENDING_HEADING_DEG, S1_INCIDENCE_DEG
from monitor.science.noise_covariance import StationaryCorrelation, block_mean

#: Fewest valid blocks a map needs to be scored.
MIN_VALID_BLOCKS = 20
#: False-alarm rate of the threshold (empirical or Bonferroni).
DEFAULT_ALPHA = 0.05
#: Blocks farther than this from the centre give a map's second noise scale (module
#: docstring): twice the templates' largest offset from the centre, metres.
DEFAULT_SCALE_BEYOND_M = 2 * DEFAULT_MAX_OFFSET_M
#: A score over this many times the median of a threshold's scores is not a quiet one
#: (:func:`null_quantile`): above the largest ratio of any quiet score of the real Erta Ale
#: series (3.3) with a margin, far below its dyke pair's (10.7).
OUTLIER_RATIO = 4.0


def null_quantile(scores: Sequence[float], alpha: float = DEFAULT_ALPHA) -> float:
    """The empirical threshold: the conformal ``1 - alpha`` quantile of the scores of quiet
    maps, once the scores too large to be quiet are set aside.

    **Outliers.** A score over :data:`OUTLIER_RATIO` times the median of the ``n`` scores is
    not taken for a quiet one (a dyke's increment in a watch's history, an unwrapping
    error). The median stands as long as fewer than half the scores are events, so all of
    them are set aside, where an order statistic is moved by each one. On the
    real Erta Ale series (Sentinel-1 014A, 218 products) the dyke pair of January 2017
    scored 10.7 times the median of the scores before it; no quiet product's arrival score
    came above 2.6 times that median (3.3 times within the first 20), and on the synthetic
    quiet series of ``evaluate series`` none above 2.1 times (``docs/detection.md``).

    **The quantile.** Of the ``m`` scores left, the ``k``-th smallest, ``k = min(ceil((1 -
    alpha) (m + 1)), m)``. A new quiet map whose score is exchangeable with these (the same
    noise, drawn alike) exceeds the ``ceil((1 - alpha) (m + 1))``-th with probability at
    most ``alpha`` whatever the scores' distribution: the conformal quantile (Vovk,
    Gammerman and Shafer 2005, Algorithmic Learning in a Random World, Springer, chapter 2;
    Lei et al. 2018, J. Am. Stat. Assoc. 113, 1094-1111,
    doi:10.1080/01621459.2017.1307116). Below ``(2 - alpha) / alpha`` scores (39 at 5%)
    that is the largest score, exceeded with probability ``1 / (m + 1)``.

    Measured against the rules before it, on the same scores (synthetic quiet series
    through the watch's own path, 30 increments borrowed; cumulative maps and increments
    at their arrival flagged): the higher order statistic ``ceil((1 - alpha) (n - 1)) +
    1``, exceeded with probability ``(n + 1 - k) / (n + 1)`` (6.5% at 30 scores), 7.9% and
    6.7%; the conformal quantile but never the largest score (one outlier set aside by
    rank, so the second largest below 39 scores), 6.0% and 5.6%; this rule 4.9% and 4.5%.
    On the real series it keeps the dyke pair out of the threshold as that rule did, and
    also a second event, which the rank rule cannot (``docs/detection.md``).

    Raises:
        InputError: fewer than ``1 / alpha`` scores.
    """
    need = math.ceil(1.0 / alpha)
    n = len(scores)
    if n < need:
        raise InputError(f"GLS filter: {n} usable quiet maps for a threshold "
                         f"at alpha {alpha:g}; need at least {need}")
    s = np.asarray(scores, dtype=np.float64)
    middle = float(np.median(s))
    if middle > 0:
        s = s[s <= OUTLIER_RATIO * middle]
    return conformal_quantile(s, alpha)


def conformal_quantile(scores: Sequence[float] | NDArray[np.floating],
                       alpha: float = DEFAULT_ALPHA) -> float:
    """The conformal ``1 - alpha`` quantile of ``m`` scores, all taken for quiet: the
    ``k``-th smallest, ``k = min(ceil((1 - alpha) (m + 1)), m)`` (:func:`null_quantile`,
    which sets aside the scores too large to be quiet first; a score that may be negative,
    such as a network's logit, has no ratio to its median, so a set known to be quiet
    calls this directly).

    Raises:
        InputError: no score.
    """
    s = np.sort(np.asarray(scores, dtype=np.float64).ravel())
    m = s.size
    if m == 0:
        raise InputError("conformal quantile: no score")
    k = min(math.ceil((1.0 - alpha) * (m + 1) - 1e-9), m)  # 1e-9: 0.95 * 20 = 19.000...04
    return float(s[k - 1])


@dataclass(frozen=True)
class GlsScore:
    """The best template of one map: its ``|t|`` and where it sits."""

    t: float
    east_m: float
    north_m: float
    depth_m: float


@lru_cache(maxsize=4)
def _block_templates(shape: tuple[int, int], pixel_m: tuple[float, float], factor: int,
                     depths_m: tuple[float, ...], max_offset_m: float, step_m: float,
                     incidence_deg: float, heading_deg: float
                     ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The templates averaged over blocks, ``(K, by * bx)``, and their positions."""
    full, where = mogi_templates(shape, pixel_m, depths_m, max_offset_m, step_m,
                                 incidence_deg, heading_deg)
    blocks = np.stack([block_mean(t.reshape(shape), factor).ravel() for t in full])
    return blocks, where


@dataclass(frozen=True)
class GlsMogiFilter:
    """The GLS matched filter (module docstring) as a detector of displacement maps.

    Attributes:
        pixel_m: Pixel size ``(east, north)`` of the maps, metres.
        correlation: The frame's noise correlation on its block grid.
        depths_m, max_offset_m, step_m: The template grid (the white filter's).
        incidence_deg, heading_deg: The line of sight of the templates, degrees.
        alpha: False-alarm rate of the flagging threshold.
        null_threshold: The empirical threshold on ``score`` (module docstring), or None
            for the Bonferroni bound.
        null_maps: Quiet maps the empirical threshold comes from (0: none).
        height_m: Heights of the frame on the maps' grid, metres, or None: the height
            becomes a nuisance of every map (module docstring). Blocks without a finite
            height are left out.
        scale_beyond_m: Distance from the centre beyond which the blocks give the map's
            second noise scale, metres; None: the whole residual's alone (module
            docstring).
    """

    pixel_m: tuple[float, float]
    correlation: StationaryCorrelation
    depths_m: tuple[float, ...] = DEFAULT_DEPTHS_M
    max_offset_m: float = DEFAULT_MAX_OFFSET_M
    step_m: float = DEFAULT_STEP_M
    incidence_deg: float = S1_INCIDENCE_DEG
    heading_deg: float = S1_ASCENDING_HEADING_DEG
    alpha: float = DEFAULT_ALPHA
    null_threshold: float | None = None
    null_maps: int = 0
    height_m: NDArray[np.floating] | None = field(default=None, compare=False, repr=False)
    scale_beyond_m: float | None = DEFAULT_SCALE_BEYOND_M

    def __post_init__(self) -> None:
        check_template_grid("GLS filter", self.pixel_m, self.depths_m, self.max_offset_m,
                            self.step_m)
        if not 0 < self.alpha < 1:
            raise InputError(f"GLS filter: alpha must be in (0, 1), got {self.alpha}")
        if self.null_threshold is not None and not self.null_threshold > 0:
            raise InputError(f"GLS filter: the threshold must be positive, got "
                             f"{self.null_threshold}")
        if self.scale_beyond_m is not None and not (self.scale_beyond_m >= 0
                                                    and math.isfinite(self.scale_beyond_m)):
            raise InputError(f"GLS filter: scale_beyond_m must be a distance >= 0 or None, "
                             f"got {self.scale_beyond_m}")
        if self.height_m is not None and np.ndim(self.height_m) != 2:
            raise InputError(f"GLS filter: the heights must be a 2-D map, got shape "
                             f"{np.shape(self.height_m)}")

    @cached_property
    def _height_blocks(self) -> NDArray[np.float64] | None:
        if self.height_m is None:
            return None
        return block_mean(np.asarray(self.height_m, dtype=np.float64),
                          self.correlation.factor)

    def _templates(self, shape: tuple[int, int]
                   ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        return _block_templates(shape, tuple(self.pixel_m), self.correlation.factor,
                                tuple(self.depths_m), self.max_offset_m, self.step_m,
                                self.incidence_deg, self.heading_deg)

    @property
    def n_templates(self) -> int:
        """Templates on the grid (``K``)."""
        return len(template_positions(tuple(self.depths_m), self.max_offset_m, self.step_m))

    @property
    def threshold(self) -> float:
        """The flagging threshold on ``max |t|``: the empirical one, else the Bonferroni
        bound (module docstring)."""
        if self.null_threshold is not None:
            return self.null_threshold
        return float(norm.isf(self.alpha / (2 * self.n_templates)))

    def with_null_threshold(self, quiet_maps: Sequence[NDArray[np.floating]]
                            ) -> GlsMogiFilter:
        """This filter with its threshold at the conformal ``1 - alpha`` quantile
        (:func:`null_quantile`) of ``score`` over ``quiet_maps``, maps of other dates than
        the ones it will judge. Maps with too few valid blocks are left out.

        Raises:
            InputError: fewer than ``1 / alpha`` usable maps (the quantile would be
                beyond the largest score).
        """
        scores = []
        for m in quiet_maps:
            try:
                scores.append(self.measure(m).t)
            except InputError:
                continue
        return replace(self, null_threshold=null_quantile(scores, self.alpha),
                       null_maps=len(scores))

    def _blocks(self, d: NDArray[np.float64]
                ) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
        """The map's block means and their validity, checked against the correlation."""
        if d.ndim != 2:
            raise InputError(f"GLS filter: the map must be 2-D, got shape {d.shape}")
        b = block_mean(d, self.correlation.factor)
        return b, self._valid(b, (d.shape[0], d.shape[1]))

    def _valid(self, b: NDArray[np.float64], shape: tuple[int, int]) -> NDArray[np.bool_]:
        """The valid blocks of block means ``b`` of a map of ``shape`` pixels."""
        if b.shape != self.correlation.shape:
            raise InputError(f"GLS filter: map {shape} gives blocks {b.shape}, the noise "
                             f"correlation was estimated on {self.correlation.shape}")
        valid = np.isfinite(b)
        heights = self._height_blocks
        if heights is not None:
            grid = tuple(np.asarray(self.height_m).shape)
            if grid != shape:
                raise InputError(f"GLS filter: heights {grid} are not on the map's grid "
                                 f"{shape}")
            valid &= np.isfinite(heights)
        return np.asarray(valid)

    def t_values(self, displacement_m: NDArray[np.floating],
                 templates: NDArray[np.floating] | None = None) -> NDArray[np.float64]:
        """``t_k`` of every template (or of the given block-grid ``templates``, ``(K, by,
        bx)``) on ``displacement_m`` (LOS metres, full resolution).

        Raises:
            InputError: not a 2-D map, a map whose block grid is not the correlation's,
                or fewer than :data:`MIN_VALID_BLOCKS` valid blocks.
        """
        d = np.asarray(displacement_m, dtype=np.float64)
        b, valid = self._blocks(d)
        return self._t_of_blocks(b, valid, d.shape, templates)

    def _t_of_blocks(self, b: NDArray[np.float64], valid: NDArray[np.bool_],
                     shape: tuple[int, ...], templates: NDArray[np.floating] | None
                     ) -> NDArray[np.float64]:
        n = int(valid.sum())
        if n < MIN_VALID_BLOCKS:
            raise InputError(f"GLS filter: {n} valid blocks; need at least "
                             f"{MIN_VALID_BLOCKS}")
        if templates is None:
            s = self._templates((shape[0], shape[1]))[0][:, valid.ravel()]
        else:
            s = np.asarray(templates, dtype=np.float64).reshape(len(templates), -1)
            s = s[:, valid.ravel()]
        chol = cholesky(self.correlation.matrix(valid), lower=True)
        ny, nx = b.shape
        rows, cols = np.divmod(np.flatnonzero(valid.ravel()), nx)
        nuisance = [np.ones(n), cols / nx, rows / ny]
        heights = self._height_blocks
        if heights is not None:
            h = heights[valid]
            spread = float(np.std(h))
            if spread > 0:  # a flat frame has no stratification to tell apart
                nuisance.append((h - float(np.mean(h))) / spread)
        x = np.column_stack(nuisance)
        q, _ = np.linalg.qr(solve_triangular(chol, x, lower=True))
        dw = solve_triangular(chol, b[valid], lower=True)
        dw -= q @ (q.T @ dw)
        sw = solve_triangular(chol, s.T, lower=True)
        sw -= q @ (q.T @ sw)
        ss = np.einsum("ij,ij->j", sw, sw)
        sd = sw.T @ dw
        resid = np.maximum(float(dw @ dw) - sd ** 2 / np.maximum(ss, 1e-300), 0.0)
        sigma = np.sqrt(resid / (n - x.shape[1] - 1))
        far_grid = self._far_blocks(b.shape, shape)
        far = None if far_grid is None else far_grid[valid]
        if far is not None and int(far.sum()) >= MIN_VALID_BLOCKS:
            sigma = np.minimum(sigma, self._far_scale(b[valid][far], valid, far, x[far]))
        with np.errstate(divide="ignore", invalid="ignore"):
            t = sd / np.sqrt(np.maximum(ss, 1e-300)) / sigma
        return np.nan_to_num(t, nan=0.0, posinf=0.0, neginf=0.0)

    def _far_blocks(self, blocks: tuple[int, ...], shape: tuple[int, ...]
                    ) -> NDArray[np.bool_] | None:
        """Blocks whose centre lies farther than ``scale_beyond_m`` from the map's centre
        (None: the whole map gives the scale)."""
        if self.scale_beyond_m is None:
            return None
        f = self.correlation.factor
        rows = (np.arange(blocks[0]) * f + (f - 1) / 2.0 - (shape[0] - 1) / 2.0)
        cols = (np.arange(blocks[1]) * f + (f - 1) / 2.0 - (shape[1] - 1) / 2.0)
        dist = np.hypot(cols[None, :] * self.pixel_m[0], rows[:, None] * self.pixel_m[1])
        return np.asarray(dist > self.scale_beyond_m)

    def _far_scale(self, d_far: NDArray[np.float64], valid: NDArray[np.bool_],
                   far: NDArray[np.bool_], x_far: NDArray[np.float64]) -> float:
        """The GLS residual scale of the far blocks alone, nuisance fitted there."""
        k = np.flatnonzero(valid.ravel())[far]
        chol = cholesky(self.correlation.matrix_full[np.ix_(k, k)], lower=True)
        q, _ = np.linalg.qr(solve_triangular(chol, x_far, lower=True))
        r = solve_triangular(chol, d_far, lower=True)
        r -= q @ (q.T @ r)
        return float(np.sqrt(float(r @ r) / (k.size - x_far.shape[1])))

    def _best(self, t: NDArray[np.float64], shape: tuple[int, ...]) -> GlsScore:
        where = self._templates((shape[0], shape[1]))[1]
        k = int(np.argmax(np.abs(t)))
        return GlsScore(float(abs(t[k])), *where[k])

    def measure(self, displacement_m: NDArray[np.floating]) -> GlsScore:
        """The best template's ``|t|`` and where it sits."""
        d = np.asarray(displacement_m, dtype=np.float64)
        return self._best(self.t_values(d), d.shape)

    def measure_blocks(self, blocks: NDArray[np.floating], shape: tuple[int, int]
                       ) -> GlsScore:
        """:meth:`measure` of a map of ``shape`` pixels given by its block means
        (:func:`~monitor.science.noise_covariance.block_mean` with the correlation's
        factor), as a watch keeps its earlier increments.

        Raises:
            InputError: blocks not on the correlation's grid, or too few valid.
        """
        b = np.asarray(blocks, dtype=np.float64)
        return self._best(self._t_of_blocks(b, self._valid(b, shape), shape, None), shape)

    def detect(self, displacement_m: NDArray[np.floating]) -> Detection:
        """Score a map: ``p_fused = 1 - 2^(-score / threshold)`` (0.5 at the threshold),
        the peak the pixel of the best template's source, ``p_by_gain`` empty. A map with
        fewer than :data:`MIN_VALID_BLOCKS` valid blocks holds no evidence for a source:
        P 0, not flagged (:meth:`measure` refuses it).

        Raises:
            InputError: not a 2-D map, or one whose block grid is not the correlation's.
        """
        d = np.asarray(displacement_m, dtype=np.float64)
        b, valid = self._blocks(d)
        ny, nx = d.shape
        prob = np.zeros(d.shape, np.float32)
        if int(valid.sum()) < MIN_VALID_BLOCKS:
            return Detection(p_fused=0.0, p_by_gain={}, flag=False, peak_row=(ny - 1) // 2,
                             peak_col=(nx - 1) // 2, prob_map=prob, threshold=0.5)
        m = self._best(self._t_of_blocks(b, valid, d.shape, None), d.shape)
        thr = self.threshold
        p = float(1.0 - 2.0 ** (-m.t / thr))
        row = int(np.clip(round((ny - 1) / 2.0 - m.north_m / self.pixel_m[1]), 0, ny - 1))
        col = int(np.clip(round((nx - 1) / 2.0 + m.east_m / self.pixel_m[0]), 0, nx - 1))
        prob[row, col] = p
        return Detection(p_fused=p, p_by_gain={}, flag=m.t > thr, peak_row=row,
                         peak_col=col, prob_map=prob, threshold=0.5)
