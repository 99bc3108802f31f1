"""The GLS Mogi filter of a watched series: its noise from the series' own past.

A watch has no list of quiet dates and no other years to take a noise model from: when a
new product arrives it has the products of the series before it. This module keeps what
the GLS filter (:mod:`monitor.science.detect.gls_filter`) needs of them, and scores an
epoch's cumulative map with it, so that the filter can confirm the network's single-map
level (:mod:`monitor.notify.policy`):

* **The window** (:func:`gls_window`): the square of :data:`HALF_WINDOW_M` around the
  target, shrunk symmetrically where the series grid ends, so that the target is its
  centre (the templates' sources lie within 3 km of it), and none for a target less than
  :data:`MIN_HALF_WINDOW_M` from the edge. The filter was measured on
  clips of this size (the real Erta Ale frame, about 20 km); a square of a 50 km crop
  would cost a correlation matrix of thousands of blocks per epoch.
* **The history** (:class:`NoiseHistory`): for every increment of the series (the newest
  interferogram as summed into the chain), its block means over the window (900 numbers
  for a 20 km square of 650 m blocks) and the filter's score of it when it arrived.
* **The filter of an epoch** (:func:`confirm`): the correlation from the block means of
  the earlier increments (:func:`~monitor.science.noise_covariance.correlation_of_blocks`),
  events included (a few increments with deformation barely move a correlation of
  hundreds), shrunk towards the exponential fitted to it with the weight of
  :data:`~monitor.science.noise_covariance.PRIOR_MAPS` maps (a third at the first filter's
  20 increments, where the estimate's long lags are mostly sampling noise), estimated
  again every :data:`REFRESH` increments (from all of them up to the
  last multiple of 10: its eigendecomposition is most of the cost, 0.2-0.3 s on 2 cores
  for 900 blocks against 0.04 s for the rest of a step, and
  ``bench/bench_gls_causal.py`` measured the filter refreshed so),
  the frame's heights as nuisance, and the threshold the conformal ``1 - alpha``
  quantile of the earlier increments' arrival scores, those too large to be quiet (an
  event's increments) set aside
  (:func:`~monitor.science.detect.gls_filter.null_quantile`): one number kept per
  product, instead of scoring the whole past again at every epoch. The first time the
  history is long enough (:data:`WARM_UP` increments, the quantile's least), its
  increments are scored with that first filter and keep those scores.
* **A series that starts late** (a target's ``start`` in a frame with years of archive
  before it) begins its history with up to :data:`BORROW` of the archive's products that
  chain back from its first date (:func:`chain_before`), so the filter judges from the
  series' first epoch instead of its 21st (eight months of Sentinel-1 at 12 days), when the
  network would otherwise stand alone. They are noise samples only: the series does not
  hold them, and they arrive without a score (the first filter scores them).
* **What it judges**: the epoch's cumulative map, the same map the network judges, so
  that a slow deformation that the network sees accumulate is not vetoed because each
  of its steps is small, **less the level of the series' first dates**
  (:meth:`NoiseHistory.level`): the mean of its cumulative maps at its first
  :data:`REFERENCE_EPOCHS` dates (0 at the first). Every cumulative map of a daisy chain
  holds its first date's atmosphere with the opposite sign, so a bump there would look
  like the same source in every map of the series; against the mean of ten dates it
  weighs a tenth, and what is left of the map holds about one date's atmosphere where an
  increment holds two, so the increments' null stays the right one. Deformation since
  the first dates is kept (less its mean over them). The noise model comes from
  increments, and the filter measures each map's scale from the map itself.

Measured on the real Erta Ale series (Sentinel-1 014A, nine years) and on the synthetic
series of ``evaluate series`` (``docs/detection.md``, "In the watch";
``bench/bench_watch_confirm.py``). Its known risk: a large source no template fits (the
months after the 2017 dyke) inflates the map's noise scale, and the filter can then veto a
network that is right (there, with the correlation not shrunk, it delayed the single-map
rule by 96 days; shrunk, it did not); the fast path and the time-series rule do not
depend on it.

Everything here is deterministic: the filter of an epoch depends only on the history
before it, so an epoch scored again after a crash gets the same numbers.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any, Protocol, TypeVar

import numpy as np
from numpy.typing import NDArray

from monitor.errors import InputError
from monitor.science.detect.gls_filter import (
    DEFAULT_ALPHA,
    MIN_VALID_BLOCKS,
    GlsMogiFilter,
    null_quantile,
)
from monitor.science.noise_covariance import (
    StationaryCorrelation,
    block_factor,
    block_mean,
    correlation_of_blocks,
)

#: Half-width of the square the filter judges around the target, metres (module
#: docstring).
HALF_WINDOW_M = 10_000.0
#: Least half-width of the window, metres: a target nearer than this to the grid's edge
#: gets no filter. The templates' sources lie up to 3 km from the target, and a few
#: kilometres of ground around them carry the plane, the height and the noise scale.
MIN_HALF_WINDOW_M = 5_000.0
#: Block size of the filter's noise model, metres (``evaluate real``'s).
BLOCK_M = 650.0
#: Earlier increments the filter needs before it judges an epoch: the empirical
#: threshold's least at the filter's false-alarm rate (``1 / alpha``).
WARM_UP = math.ceil(1.0 / DEFAULT_ALPHA)
#: The correlation is estimated again every this many increments (module docstring).
REFRESH = 10
#: The series' first dates whose mean position is the level a cumulative map is judged
#: against (its first date and the next ``REFERENCE_EPOCHS - 1``; module docstring).
REFERENCE_EPOCHS = 10
#: Products before a series' start its history begins with at most (:func:`chain_before`):
#: the warm-up and one refresh, so that the first filter's correlation and threshold come
#: from 30 increments rather than 20 (the threshold is the largest quiet score in both,
#: exceeded by a new quiet map 1 time in 31 rather than 1 in 21;
#: :func:`~monitor.science.detect.gls_filter.null_quantile`).
BORROW = WARM_UP + REFRESH
#: Correlations this process remembers (a few series' current ones).
_CACHE_SIZE = 16
_CACHE: OrderedDict[bytes, StationaryCorrelation] = OrderedDict()
_CACHE_LOCK = threading.Lock()


@dataclass(frozen=True)
class GlsWindow:
    """The square the filter judges, on the series grid.

    Attributes:
        rows, cols: Its first and past-the-last row and column.
        factor: Block size, pixels.
    """

    rows: tuple[int, int]
    cols: tuple[int, int]
    factor: int

    @property
    def shape(self) -> tuple[int, int]:
        return self.rows[1] - self.rows[0], self.cols[1] - self.cols[0]

    @property
    def blocks(self) -> tuple[int, int]:
        """Its block grid."""
        return self.shape[0] // self.factor, self.shape[1] // self.factor

    def cut(self, grid_map: NDArray[np.floating]) -> NDArray[np.float64]:
        """The window of a map of the series grid."""
        return np.asarray(grid_map, dtype=np.float64)[self.rows[0]:self.rows[1],
                                                       self.cols[0]:self.cols[1]]

    def record(self) -> dict[str, Any]:
        return {"rows": list(self.rows), "cols": list(self.cols), "factor": self.factor}


def gls_window(shape: tuple[int, int], pixel_m: tuple[float, float],
               centre_rc: tuple[float, float], *, half_m: float = HALF_WINDOW_M,
               block_m: float = BLOCK_M) -> GlsWindow:
    """The window centred on the target pixel ``centre_rc`` (module docstring).

    Raises:
        InputError: the target lies off the grid, less than the smaller of ``half_m``
            and :data:`MIN_HALF_WINDOW_M` from its edge, or so near it that the window
            holds fewer blocks than the filter needs.
    """
    ny, nx = shape
    r, c = int(round(centre_rc[0])), int(round(centre_rc[1]))
    if not (0 <= r < ny and 0 <= c < nx):
        raise InputError(f"GLS window: the target pixel {centre_rc} is off the grid {shape}")
    hr = min(int(round(half_m / pixel_m[1])), r, ny - 1 - r)
    hc = min(int(round(half_m / pixel_m[0])), c, nx - 1 - c)
    rows, cols = (r - hr, r + hr + 1), (c - hc, c + hc + 1)
    factor = block_factor(pixel_m, block_m, (rows[1] - rows[0], cols[1] - cols[0]))
    window = GlsWindow(rows, cols, factor)
    by, bx = window.blocks
    least = min(half_m, MIN_HALF_WINDOW_M)
    if min(hr * pixel_m[1], hc * pixel_m[0]) < least or by * bx < MIN_VALID_BLOCKS:
        raise InputError(f"GLS window: the target at pixel ({r}, {c}) of a {ny} x {nx} "
                         f"grid leaves a square of {window.shape[0]} x {window.shape[1]} "
                         f"pixels around it ({by * bx} blocks of {block_m:g} m); the filter "
                         f"needs {least / 1000:g} km of ground on every side of the target")
    return window


@dataclass(frozen=True, eq=False)
class NoiseHistory:
    """What the filter keeps of a series' increments, in date order (module docstring).

    Attributes:
        window: The square judged.
        blocks: Block means of each increment over the window, metres,
            ``(n, by, bx)`` float32, NaN: an invalid block.
        arrivals: The filter's score (``max |t|``) of each increment when it arrived,
            ``(n,)``; NaN for increments that arrived before the first filter.
        last_epoch: The second date of the newest increment (None: empty).
        levels: Block means of the cumulative maps of the series' second to
            :data:`REFERENCE_EPOCHS`-th dates, ``(m, by, bx)`` float32 (None: none yet).
        level_epochs: Their dates, ``m`` of them, in order.
        first_date_only: The level is the series' first date alone (a history kept before
            the level existed: its series' early maps are gone).
    """

    window: GlsWindow
    blocks: NDArray[np.float32]
    arrivals: NDArray[np.float64]
    last_epoch: date | None = None
    levels: NDArray[np.float32] | None = None
    level_epochs: tuple[date, ...] = ()
    first_date_only: bool = False

    def __post_init__(self) -> None:
        b, a = np.shape(self.blocks), np.shape(self.arrivals)
        if len(b) != 3 or b[1:] != self.window.blocks or a != (b[0],):
            raise InputError(f"noise history: blocks {b} and scores {a} do not match a "
                             f"window of {self.window.blocks} blocks")
        if self.levels is None:
            object.__setattr__(self, "levels", np.zeros((0, *b[1:]), np.float32))
        lv = np.shape(self._levels)
        if (len(lv) != 3 or lv[1:] != b[1:] or lv[0] != len(self.level_epochs)
                or lv[0] > REFERENCE_EPOCHS - 1 or (self.first_date_only and lv[0])
                or list(self.level_epochs) != sorted(set(self.level_epochs))):
            raise InputError(f"noise history: levels {lv} of dates "
                             f"{[d.isoformat() for d in self.level_epochs]} do not match a "
                             f"window of {self.window.blocks} blocks (at most "
                             f"{REFERENCE_EPOCHS - 1} dates, in order, none when the level "
                             "is the first date alone)")

    @classmethod
    def empty(cls, window: GlsWindow) -> NoiseHistory:
        by, bx = window.blocks
        return cls(window, np.zeros((0, by, bx), np.float32), np.zeros(0))

    def __len__(self) -> int:
        return int(self.blocks.shape[0])

    def holds(self, epoch: date) -> bool:
        """Whether the history already holds the increment ending at ``epoch`` (an epoch
        scored again after a crash: its series file was saved with it)."""
        return self.last_epoch is not None and self.last_epoch >= epoch

    def before(self, epoch: date) -> NoiseHistory:
        """The history before ``epoch`` (an epoch scored again, whose increment the
        history may already hold: it is the newest, or none of them is; its map may be one
        of the level's)."""
        kept = sum(1 for d in self.level_epochs if d < epoch)
        out = self
        if kept < len(self.level_epochs):
            out = replace(out, levels=self._levels[:kept],
                          level_epochs=self.level_epochs[:kept])
        if not self.holds(epoch) or len(self) == 0:
            return out
        return replace(out, blocks=self.blocks[:-1], arrivals=self.arrivals[:-1],
                       last_epoch=None)

    def head(self, n: int) -> NoiseHistory:
        """The history of its first ``n`` increments (views, no copy), without its newest
        date (as :meth:`before` leaves it); the level as it is."""
        if not 0 <= n <= len(self):
            raise InputError(f"noise history: {n} increments asked of {len(self)}")
        if n == len(self):
            return self
        return replace(self, blocks=self.blocks[:n], arrivals=self.arrivals[:n],
                       last_epoch=None)

    def block_means(self, grid_map: NDArray[np.floating]) -> NDArray[np.float32]:
        """The window's block means of a map of the series grid."""
        b = block_mean(self.window.cut(grid_map), self.window.factor)
        return np.asarray(b[:self.window.blocks[0], :self.window.blocks[1]], np.float32)

    def appended(self, increment_m: NDArray[np.floating], score: float | None,
                 epoch: date | None = None) -> NoiseHistory:
        """This history with one more increment (a map of the series grid) ending at
        ``epoch`` and its arrival score (None: it arrived before the first filter)."""
        block = self.block_means(increment_m)[None]
        return replace(self, blocks=np.concatenate([self.blocks, block]),
                       arrivals=np.append(self.arrivals, np.nan if score is None else score),
                       last_epoch=epoch)

    @property
    def _levels(self) -> NDArray[np.float32]:
        assert self.levels is not None  # set in __post_init__
        return self.levels

    def level(self) -> NDArray[np.float64]:
        """Block means of the level a cumulative map is judged against: the mean position
        of the series' first dates, 0 at its first date (the maps' reference) and the
        kept maps of the next ones, per block over the dates valid there."""
        lv = self._levels.astype(np.float64)
        finite = np.isfinite(lv)
        return np.where(finite, lv, 0.0).sum(axis=0) / (1.0 + finite.sum(axis=0))

    def with_level(self, cumulative_m: NDArray[np.floating], epoch: date) -> NoiseHistory:
        """This history with the cumulative map of ``epoch`` in the level while the level
        holds fewer than :data:`REFERENCE_EPOCHS` dates (and is not the first date alone);
        otherwise unchanged."""
        if (self.first_date_only or len(self.level_epochs) >= REFERENCE_EPOCHS - 1
                or (self.level_epochs and self.level_epochs[-1] >= epoch)):
            return self
        block = self.block_means(cumulative_m)[None]
        return replace(self, levels=np.concatenate([self._levels, block]),
                       level_epochs=(*self.level_epochs, epoch))


class _Pair(Protocol):
    @property
    def date1(self) -> date: ...

    @property
    def date2(self) -> date: ...


P = TypeVar("P", bound=_Pair)


def chain_before(pairs: Sequence[P], first: date, n: int = BORROW) -> list[P]:
    """Up to ``n`` of ``pairs`` that chain back from ``first``, oldest first: the pair
    ending nearest before or on ``first`` (of those ending on one date, the shortest),
    then the one ending nearest before or on that pair's first date, and so on. A daisy
    chain, as the series' own increments are: no two share an interval, so no date's
    atmosphere is counted twice, and none reaches past ``first`` into the series."""
    chosen: list[P] = []
    limit = first
    while len(chosen) < n:
        ending = [p for p in pairs if p.date2 <= limit and p.date1 < p.date2]
        if not ending:
            break
        link = max(ending, key=lambda p: (p.date2, p.date1))
        chosen.append(link)
        limit = link.date1
    return chosen[::-1]


@dataclass(frozen=True)
class GlsConfirmation:
    """The filter's judgement of one cumulative map.

    Attributes:
        p: ``1 - 2^(-t / threshold)``: 0.5 at the threshold, a rank, not a calibrated
            probability.
        t: The best template's ``|t|``.
        threshold: The empirical threshold of the epoch's filter.
        history: Earlier increments its noise model and threshold come from.
        east_m, north_m, depth_m: The best template's source, from the target.
        level_dates: The series' first dates whose mean position the map was judged
            against (1: its first date alone).
    """

    p: float
    t: float
    threshold: float
    history: int
    east_m: float
    north_m: float
    depth_m: float
    level_dates: int = 1

    @staticmethod
    def empty_record(judged: GlsConfirmation | None) -> dict[str, Any]:
        """:meth:`record` of ``judged``, or its keys with None when the filter did not
        judge."""
        if judged is not None:
            return judged.record()
        return {"gls_p": None, "gls_t": None, "gls_threshold": None, "gls_history": None,
                "gls_source_m": None, "gls_level_dates": None}

    def record(self) -> dict[str, Any]:
        """JSON-ready (stored with the epoch's signal)."""
        return {"gls_p": self.p, "gls_t": self.t, "gls_threshold": self.threshold,
                "gls_history": self.history,
                "gls_source_m": [self.east_m, self.north_m, self.depth_m],
                "gls_level_dates": self.level_dates}


def _correlation(blocks: NDArray[np.float32], factor: int) -> StationaryCorrelation:
    """The correlation of these block means, remembered by their digest: the watch asks
    for the same one at every epoch until the next refresh, and it is the costly part (an
    eigendecomposition of a matrix of about 900 blocks). The digest names the values, so
    the answer is the same whether it was remembered or not."""
    key = (hashlib.blake2b(np.ascontiguousarray(blocks).tobytes(), digest_size=16).digest()
           + bytes(str((blocks.shape, factor)), "ascii"))
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            _CACHE.move_to_end(key)
            return hit
    corr = correlation_of_blocks(list(blocks), factor)
    with _CACHE_LOCK:
        _CACHE[key] = corr
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return corr


def _filter(history: NoiseHistory, pixel_m: tuple[float, float],
            height_m: NDArray[np.floating] | None) -> GlsMogiFilter:
    """The filter of the history: the correlation of its increments up to the last
    multiple of :data:`REFRESH` (module docstring)."""
    window = history.window
    used = len(history) - len(history) % REFRESH
    corr = _correlation(history.blocks[:used], window.factor)
    heights = None if height_m is None else window.cut(height_m)
    return GlsMogiFilter(pixel_m, corr, height_m=heights)


def _confirm(history: NoiseHistory, cumulative_m: NDArray[np.floating],
             pixel_m: tuple[float, float], height_m: NDArray[np.floating] | None
             ) -> tuple[NoiseHistory, GlsConfirmation | None, GlsMogiFilter | None]:
    if len(history) < WARM_UP:
        return history, None, None
    try:
        gls = _filter(history, pixel_m, height_m)
    except InputError:
        return history, None, None
    shape = history.window.shape
    arrivals = history.arrivals.copy()
    for k in np.flatnonzero(~np.isfinite(arrivals)):
        try:
            arrivals[k] = gls.measure_blocks(history.blocks[k].astype(np.float64), shape).t
        except InputError:  # too few valid blocks: the increment gives no score
            continue
    history = replace(history, arrivals=arrivals)
    scores = arrivals[np.isfinite(arrivals)]
    try:
        best = gls.measure_blocks(history.block_means(cumulative_m) - history.level(),
                                  shape)
    except InputError:  # too few valid blocks: no evidence either way
        return history, None, gls
    if scores.size < WARM_UP:
        return history, None, gls
    threshold = null_quantile(list(scores), gls.alpha)
    return history, GlsConfirmation(float(1.0 - 2.0 ** (-best.t / threshold)), best.t,
                                    threshold, len(history), best.east_m, best.north_m,
                                    best.depth_m, 1 + len(history.level_epochs)), gls


def confirm(history: NoiseHistory, cumulative_m: NDArray[np.floating],
            pixel_m: tuple[float, float], height_m: NDArray[np.floating] | None
            ) -> tuple[NoiseHistory, GlsConfirmation | None]:
    """Judge an epoch's cumulative map (series grid, metres) with the filter of the
    increments before it (module docstring).

    Returns:
        The history with the arrival scores of its first increments filled when this is
        the first filter, and the judgement; None when the history is shorter than
        :data:`WARM_UP`, its noise model cannot be estimated, or the map's window or too
        many earlier increments have too few valid blocks.
    """
    history, judged, _ = _confirm(history, cumulative_m, pixel_m, height_m)
    return history, judged


def step(history: NoiseHistory, cumulative_m: NDArray[np.floating],
         increment_m: NDArray[np.floating], pixel_m: tuple[float, float],
         height_m: NDArray[np.floating] | None, epoch: date
         ) -> tuple[NoiseHistory, GlsConfirmation | None]:
    """:func:`confirm` the new epoch, then add its increment to the history with the score
    the same filter gives it (None before the first filter, or too few valid blocks), and
    its cumulative map to the level while the level takes dates."""
    history, judged, gls = _confirm(history, cumulative_m, pixel_m, height_m)
    score = None
    if gls is not None:
        try:
            score = gls.measure(history.window.cut(increment_m)).t
        except InputError:
            score = None
    return history.appended(increment_m, score, epoch).with_level(cumulative_m, epoch), judged
