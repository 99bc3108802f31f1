"""The block detector in a series: rule 1 against the series' own quiet past.

The block detector (:mod:`~monitor.science.detect.blocks`) is calibrated on the quiet
interferograms of one real frame (Erta Ale, Sentinel-1 014A): P = 0.5 at the conformal
95% quantile of their logits. Another frame's noise is not Erta Ale's, and even on that
frame the quiet years differ (``docs/detection.md``). A watched series carries its own
quiet past, so the watch sets the threshold from it:

* **The score of an arrival**: the largest raw logit of the sums of its newest
  :data:`SPANS` increments (the newest alone, and the newest with the one before it) over
  the series' window: the square of about 20 km centred on the target that the GLS
  filter judges (:func:`~monitor.science.detect.series_gls.gls_window`), which is the
  clip the detector was trained and calibrated on, averaged over the same 650 m blocks
  (the :class:`~monitor.science.detect.series_gls.NoiseHistory` keeps every increment's
  block means there, so nothing is stored for this rule). The span of two catches a step
  that an acquisition splits between two increments (an onset between acquisitions, a
  step of a few weeks).
* **The threshold**: the conformal 95% quantile
  (:func:`~monitor.science.detect.gls_filter.conformal_quantile`) of the scores every
  earlier increment of the series got by the same rule, events set aside: a score beyond
  the far-out fence ``Q3 + FENCE_IQR * IQR`` of them (Tukey 1977, Exploratory Data
  Analysis, Addison-Wesley, chapter 2: a logit may be negative, so the GLS filter's
  ratio to the median, :func:`~monitor.science.detect.gls_filter.null_quantile`, does
  not apply), or one the packaged calibration puts at :data:`EVENT_P` or more (its
  "certain", the fast path's P). The fence alone is not enough: a network's logits of
  quiet maps spread over several units, and on the real Erta Ale series the 17 cm dyke
  pair (logit 9.1) lay inside the fence of the 31 scores before 2017-10-20 (Q3 + 3 IQR =
  9.8), so it and its aftermath (logit 4.1) set the threshold for 10 of the 36 arrivals
  of 2017-2018, the detector blind to a second event then; with the packaged certainty
  also set aside the threshold there stays at or below 2.7. So the series' threshold
  never exceeds that certainty (logit 2.94 for the packaged file): on a frame much
  noisier than Erta Ale it stops there, still above the packaged threshold. A quiet
  arrival exchangeable with the earlier ones exceeds it with probability at most 5%,
  whatever the frame's noise, as long as its quiet scores stay under that certainty. It
  needs :data:`MIN_ARRIVALS` earlier scores left once events are set aside (the
  quantile's least at 5%, as the GLS filter's warm-up); before that, and where the
  window's blocks are not the detector's, the packaged calibration stands.
* **P**: the packaged calibration's Platt slopes about this threshold
  (:class:`~monitor.science.detect.blocks.BlockCalibration`), so P = 0.5 at the series'
  own threshold and the fast path's P = 0.95 lies as far above it as in the packaged
  calibration.

Measured on the real Erta Ale series as a watch receives it, events included
(``bench/bench_series_threshold.py``; the 96 quiet arrivals of 2021-2024, outside the
network's training years, 120 Mogi sources per amplitude): 6 of 96 quiet arrivals flagged,
a 3 cm step found in 87% of the draws and one split between two acquisitions in 81%; the
packaged threshold on the newest increment alone, on the same arrivals and draws: 1 of
96, 78% and 42% (``docs/detection.md``).

Every score is a function of the increments' block means and the network only, so an
epoch scored again gets the same numbers (to the float32 rounding of the network's
batches); the logits of spans already scored are remembered by the digest of their
blocks (a watch scores one new arrival per epoch; a process that has not scored the
series before scores its whole history once, in batches: 0.25 s for nine years of 12-day
products, then 4.5 ms an epoch against 3.8 ms for the detector's own scoring of the map,
one thread of an idle 2-core machine).
"""

from __future__ import annotations

import hashlib
import math
import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from monitor.errors import InputError
from monitor.science.detect.blocks import BlockCalibration, BlockDetector
from monitor.science.detect.gls_filter import DEFAULT_ALPHA, conformal_quantile
from monitor.science.detect.series_gls import WARM_UP, NoiseHistory
from monitor.science.noise_covariance import block_mean

#: The spans of newest increments an arrival's score takes the largest logit of.
SPANS = (1, 2)
#: Earlier arrival scores the series' threshold needs (the GLS filter's warm-up).
MIN_ARRIVALS = WARM_UP
#: Arrival scores above ``Q3 + FENCE_IQR * IQR`` of the earlier ones are events, not noise
#: (Tukey's far-out fence; about 4.7 standard deviations above the mean of a normal sample).
FENCE_IQR = 3.0
#: Arrival scores the packaged calibration puts at this P or more are events, not noise
#: (the fast path's default ``[alerts] fast_p``).
EVENT_P = 0.95
#: Span logits remembered per network: two per increment of every watched series (a
#: target's whole history is read at each of its epochs, so it must fit: 65,536 is some
#: 100 targets of nine years of 12-day products, a few megabytes).
_CACHE_SIZE = 1 << 16
_CACHE: weakref.WeakKeyDictionary[Any, OrderedDict[bytes, float]] = weakref.WeakKeyDictionary()
_CACHE_LOCK = threading.Lock()


@dataclass(frozen=True)
class SeriesJudgement:
    """Rule 1 of an epoch against its series' own threshold.

    Attributes:
        p: The epoch's probability (``calibration`` of ``logit``).
        logit: The epoch's score: the largest raw logit of its newest spans.
        span: The span that gave it (increments).
        arrivals: Earlier arrival scores the threshold comes from.
        set_aside: Earlier arrival scores set aside as events.
        calibration: The packaged calibration about the series' threshold.
    """

    p: float
    logit: float
    span: int
    arrivals: int
    set_aside: int
    calibration: BlockCalibration

    @property
    def threshold(self) -> float:
        """The series' own threshold (logit): where the calibration puts P = 0.5."""
        return self.calibration.threshold

    @staticmethod
    def empty_record(judged: SeriesJudgement | None) -> dict[str, Any]:
        """:meth:`record` of ``judged``, or its keys with None when there was none."""
        if judged is not None:
            return judged.record()
        return {"series_p": None, "series_logit": None, "series_span": None,
                "series_threshold": None, "series_arrivals": None, "series_set_aside": None}

    def record(self) -> dict[str, Any]:
        """JSON-ready (stored with the epoch's scores)."""
        return {"series_p": self.p, "series_logit": self.logit, "series_span": self.span,
                "series_threshold": self.threshold, "series_arrivals": self.arrivals,
                "series_set_aside": self.set_aside}


def _heights(detector: BlockDetector, history: NoiseHistory) -> NDArray[np.float64] | None:
    h = detector.heights_m
    if h is None or h.ndim != 2:
        return None
    w = history.window
    if h.shape[0] < w.rows[1] or h.shape[1] < w.cols[1]:
        return None
    by, bx = w.blocks
    return np.asarray(block_mean(w.cut(h), w.factor)[:by, :bx], np.float64)


def _key(blocks: NDArray[np.float32], heights_key: bytes) -> bytes:
    digest = hashlib.blake2b(blocks.tobytes(), digest_size=16)
    digest.update(repr(blocks.shape).encode("ascii"))
    digest.update(heights_key)
    return digest.digest()


def _span_logits(detector: BlockDetector, spans: list[NDArray[np.floating]],
                 heights: NDArray[np.float64] | None) -> list[float]:
    """The detector's logit of each span's block means (NaN: too few valid blocks),
    remembered by the digest of its blocks and heights; the ones not remembered are
    scored in one batch."""
    maps = [np.ascontiguousarray(b, dtype=np.float32) for b in spans]
    heights_key = b"" if heights is None else hashlib.blake2b(
        np.ascontiguousarray(heights, np.float64).tobytes(), digest_size=16).digest()
    keys = [_key(b, heights_key) for b in maps]
    out: list[float | None] = []
    with _CACHE_LOCK:
        memo = _CACHE.setdefault(detector.net, OrderedDict())
        for key in keys:
            hit = memo.get(key)
            if hit is not None:
                memo.move_to_end(key)
            out.append(hit)
    missing = [k for k, v in enumerate(out) if v is None]
    if missing:
        values = detector.block_logits([maps[k] for k in missing], heights)
        with _CACHE_LOCK:
            for k, v in zip(missing, values, strict=True):
                out[k] = v
                memo[keys[k]] = v
            while len(memo) > _CACHE_SIZE:
                memo.popitem(last=False)
    return [float("nan") if v is None else v for v in out]


def _spans(newest: list[NDArray[np.float32]], spans: tuple[int, ...]
           ) -> list[tuple[int, NDArray[np.float32]]]:
    """The sums of ``newest`` (newest first) over each of ``spans`` it has enough for."""
    out = []
    total = np.zeros_like(newest[0], dtype=np.float32)
    for k, b in enumerate(newest[:max(spans)], 1):
        total = total + b
        if k in spans:
            out.append((k, total))
    return out


def _best(scored: list[tuple[int, float]]) -> tuple[float, int]:
    """The largest finite logit and its span, the shorter of equal ones (NaN, 0: none)."""
    finite = [(v, k) for k, v in scored if np.isfinite(v)]
    if not finite:
        return float("nan"), 0
    v, k = max(finite, key=lambda t: (t[0], -t[1]))
    return float(v), int(k)


def arrival_scores(detector: BlockDetector, history: NoiseHistory,
                   spans: tuple[int, ...] = SPANS) -> NDArray[np.float64]:
    """Each increment's score of the history when it arrived (module docstring), NaN
    where none of its spans had enough valid blocks."""
    return _arrival_scores(detector, history, _heights(detector, history), spans)


def _arrival_scores(detector: BlockDetector, history: NoiseHistory,
                    heights: NDArray[np.float64] | None, spans: tuple[int, ...]
                    ) -> NDArray[np.float64]:
    blocks = history.blocks
    items = [(j, k, total) for j in range(len(history))
             for k, total in _spans([blocks[i] for i in range(j, max(-1, j - max(spans)), -1)],
                                    spans)]
    values = _span_logits(detector, [t for _, _, t in items], heights)
    scored: dict[int, list[tuple[int, float]]] = {}
    for (j, k, _), v in zip(items, values, strict=True):
        scored.setdefault(j, []).append((k, v))
    return np.array([_best(scored.get(j, []))[0] for j in range(len(history))])


def event_logit(calibration: BlockCalibration) -> float:
    """The logit ``calibration`` puts at :data:`EVENT_P`: scores at or above it are events."""
    return float(calibration.threshold
                 + math.log(EVENT_P / (1.0 - EVENT_P)) / calibration.upper_slope)


def series_threshold(scores: NDArray[np.floating], alpha: float = DEFAULT_ALPHA,
                     certain: float = math.inf) -> tuple[float, int, int] | None:
    """The threshold from earlier arrival scores (module docstring): ``(threshold, scores
    kept, scores set aside)``, scores beyond the far-out fence or at or above ``certain``
    (:func:`event_logit`) set aside; None with fewer than :data:`MIN_ARRIVALS` finite
    scores, or fewer kept."""
    s = np.asarray(scores, dtype=np.float64)
    s = s[np.isfinite(s)]
    if s.size < MIN_ARRIVALS:
        return None
    q1, q3 = np.quantile(s, [0.25, 0.75])
    kept = s[(s <= q3 + FENCE_IQR * (q3 - q1)) & (s < certain)]
    if kept.size < MIN_ARRIVALS:
        return None
    return conformal_quantile(kept, alpha), int(kept.size), int(s.size - kept.size)


def judge(detector: BlockDetector, history: NoiseHistory,
          increment_m: NDArray[np.floating], spans: tuple[int, ...] = SPANS
          ) -> SeriesJudgement | None:
    """Rule 1 of an epoch against its series' own threshold.

    Args:
        detector: The block detector (its heights on the series grid, if any, give the
            height term).
        history: The series' noise history before the epoch (its increments in order).
        increment_m: The epoch's newest increment on the series grid, metres.
        spans: The spans of newest increments scored (:data:`SPANS`; others are for
            measuring the rule, ``bench/bench_series_threshold.py``).

    Returns:
        The judgement; None when the history gives no threshold yet
        (:func:`series_threshold`), when the window's blocks are not the detector's size,
        or when the window of the newest increment has too few valid blocks.
    """
    if history.window.factor != detector.factor:
        return None
    if not spans or min(spans) < 1:
        raise InputError(f"series threshold: spans must be positive, got {spans}")
    heights = _heights(detector, history)
    limits = series_threshold(_arrival_scores(detector, history, heights, spans),
                              certain=event_logit(detector.calibration))
    if limits is None:
        return None
    threshold, kept, aside = limits
    newest = [history.block_means(increment_m), *history.blocks[::-1][:max(spans) - 1]]
    sums = _spans(newest, spans)
    logit, span = _best([(k, v) for (k, _), v in zip(
        sums, _span_logits(detector, [t for _, t in sums], heights), strict=True)])
    if not np.isfinite(logit):
        return None
    packaged = detector.calibration
    calibration = BlockCalibration(threshold, packaged.slope,
                                   {**(packaged.source or {}), "series_arrivals": kept},
                                   packaged.slope_above)
    return SeriesJudgement(float(calibration.probability(logit)), logit, span, kept, aside,
                           calibration)
