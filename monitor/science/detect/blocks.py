"""The block detector: a small network that reads a map as the GLS filter does.

The packaged multi-gain CNN reads full-resolution wrapped phase; on real Sentinel-1 noise
millimetres of atmosphere draw fringes at its high gains and kilometre-scale delays cannot
be weighed as a linear signal, so it separates injected sources from real quiet maps
clearly worse than the GLS Mogi filter does (:mod:`~monitor.science.detect.gls_filter`).
This detector takes the filter's view of a map instead:

* **unwrapped displacement averaged over blocks** of about :data:`BLOCK_M` (650 m), the
  scale at which the GLS filter is fitted (Lohman & Simons 2005, Geochem. Geophys.
  Geosyst. 6, Q01007, doi:10.1029/2004GC000841, on decimating interferograms to the
  resolution their signals need);
* in each window of :data:`WINDOW_BLOCKS` blocks (about 20 km, the clip the watch scores
  around a target), a plane and a linear height term fitted and removed by least squares
  (orbital ramp and stratified delay, as :mod:`~monitor.science.stratification` models
  the latter), and the residual divided by its robust scale (1.4826 times its median
  absolute deviation);
* two channels: that residual and a validity mask (0 where a block has too few coherent
  pixels), so that the network is told where the data are.

A map larger than one window is scored window by window (stride half a window, the last
window aligned with the map's edge); the map's score is its best window's. The network
(:class:`BlockNet`: five 3 x 3 convolutions, two poolings, the maximum and mean of its
last map into one logit) is fully convolutional up to that pooling, so the location of
the largest term of the maximum is where the evidence lies; a cell of that map covers
4 x 4 blocks (2.6 km), and the detection's peak is the block of largest |residual| in it
or within :data:`PEAK_MARGIN` blocks of it.

**Calibration** (:class:`BlockCalibration`): ``P = sigmoid(slope (logit - threshold))``.
``threshold`` is the conformal 95% quantile of the logits of held-out real quiet maps
(:func:`~monitor.science.detect.gls_filter.null_quantile`, the rule the GLS filter's
threshold follows), so that P > 0.5 flags at most about 5% of maps like them; ``slope``
is the one parameter of Platt scaling (Platt 1999; Guo et al. 2017, arXiv:1706.04599)
fitted by maximum likelihood on the same quiet maps and semi-real positives. P = 0.5
therefore means "at the edge of what quiet maps of this kind give", not "as likely
deformed as not": a watch that reads P as a false-alarm budget reads it right.

Training and calibration are glue (:mod:`monitor.detector_blocks`); this module holds the
network, its input and the detector.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from numpy.typing import NDArray
from scipy.optimize import minimize_scalar
from torch import nn

from monitor.errors import InputError
from monitor.science.detect.fusion import Detection
from monitor.science.noise_covariance import block_factor, block_mean

#: Registry name of the block network in model files.
BLOCK_ARCH = "blocks"
#: Side of a block, metres (the GLS filter's block).
BLOCK_M = 650.0
#: Side of the scoring window, blocks (30 x 650 m = 19.5 km: the watch's 20 km clip).
WINDOW_BLOCKS = 30
#: Fewest valid blocks a window needs to be scored (a quarter of it).
MIN_VALID_FRACTION = 0.25
#: 1.4826 MAD = sigma for Gaussian data.
MAD_TO_SIGMA = 1.4826
#: Blocks around the cell of largest evidence searched for the peak (the network's last
#: map sees beyond its 4 x 4-block cells).
PEAK_MARGIN = 2
#: Penalty on (slope - 1) of the one-parameter Platt fit (as the CNN's calibration).
SLOPE_PENALTY = 1e-2


class BlockNet(nn.Module):
    """Five 3 x 3 convolutions (``width``, ``width``, pool, ``2 width`` twice, pool,
    ``2 width``), the maximum and mean of the last map into one logit (102,337
    parameters at width 32)."""

    arch: ClassVar[str] = BLOCK_ARCH

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        if not (isinstance(width, int) and width > 0):
            raise InputError(f"block network: width must be a positive integer, got "
                             f"{width!r}")
        self.width = width
        w = width
        self.features = nn.Sequential(
            nn.Conv2d(2, w, 3, padding=1), nn.ReLU(), nn.Conv2d(w, w, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(w, 2 * w, 3, padding=1), nn.ReLU(),
            nn.Conv2d(2 * w, 2 * w, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(2 * w, 2 * w, 3, padding=1), nn.ReLU())
        self.head = nn.Linear(4 * w, 1)

    def config(self) -> dict[str, Any]:
        """Keyword arguments that rebuild this network."""
        return {"width": self.width}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N,)`` of windows ``(N, 2, h, w)`` (h, w at least 4)."""
        z = self.features(x)
        return self.head(torch.cat([z.amax((2, 3)), z.mean((2, 3))], 1)).squeeze(1)

    def evidence(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits ``(N,)`` and, per window, the weighted last map ``(N, h/4, w/4)`` whose
        largest cell is where the maximum-pooled evidence lies."""
        z = self.features(x)
        logits = self.head(torch.cat([z.amax((2, 3)), z.mean((2, 3))], 1)).squeeze(1)
        w_max = self.head.weight[0, :z.shape[1]]
        return logits, torch.einsum("nchw,c->nhw", z, w_max)


def window_channels(blocks: NDArray[np.floating], heights: NDArray[np.floating] | None
                    ) -> NDArray[np.float32]:
    """The two input channels of one window of block means (module docstring).

    Args:
        blocks: Block means of LOS displacement, metres ``(h, w)``, NaN = no data.
        heights: Block means of the heights ``(h, w)`` (the height term is left out when
            None).

    Returns:
        ``(2, h, w)`` float32: the residual over its robust scale (0 where invalid) and
        the validity mask.

    Raises:
        InputError: mismatched shapes, or fewer valid blocks than
            :data:`MIN_VALID_FRACTION` of the window (at least 8).
    """
    b = np.asarray(blocks, dtype=np.float64)
    ny, nx = b.shape
    ok = np.isfinite(b)
    h = None
    if heights is not None:
        h = np.asarray(heights, dtype=np.float64)
        if h.shape != b.shape:
            raise InputError(f"block detector: heights {h.shape} and blocks {b.shape} "
                             "differ in shape")
        ok &= np.isfinite(h)
    n = int(ok.sum())
    if n < max(8, MIN_VALID_FRACTION * b.size):
        raise InputError(f"block detector: {n} of {b.size} blocks valid in a window; "
                         f"at least {max(8, math.ceil(MIN_VALID_FRACTION * b.size))} needed")
    rows, cols = np.mgrid[:ny, :nx]
    columns = [np.ones(n), cols[ok] / nx, rows[ok] / ny]
    if h is not None:
        hv = h[ok]
        columns.append((hv - hv.mean()) / (hv.std() + 1e-9))
    x = np.column_stack(columns)
    beta = np.linalg.lstsq(x, b[ok], rcond=None)[0]
    resid = b[ok] - x @ beta
    scale = MAD_TO_SIGMA * float(np.median(np.abs(resid - np.median(resid)))) + 1e-9
    out = np.zeros((2, ny, nx), np.float32)
    out[0][ok] = resid / scale
    out[1] = ok
    return out


def window_starts(n: int, window: int) -> list[int]:
    """Offsets of the windows along an axis of ``n`` blocks: every half window, the last
    aligned with the end; one window at 0 when ``n <= window``."""
    if n <= window:
        return [0]
    step = max(1, window // 2)
    starts = list(range(0, n - window + 1, step))
    if starts[-1] != n - window:
        starts.append(n - window)
    return starts


@dataclass(frozen=True)
class BlockCalibration:
    """``P = sigmoid(slope (logit - threshold))``, with its own slope above the threshold
    (module docstring).

    Attributes:
        threshold: The logit at which P = 0.5 (the conformal 95% quantile of held-out
            quiet maps).
        slope: Platt slope (> 0) at and below the threshold.
        slope_above: Platt slope above the threshold (>= ``slope``; None: ``slope``, as a
            file calibrated before it existed).
        source: What it was fitted on (plain values, kept in the model file).
    """

    threshold: float
    slope: float
    source: dict[str, Any] | None = None
    slope_above: float | None = None

    def __post_init__(self) -> None:
        above = self.slope if self.slope_above is None else self.slope_above
        if not (math.isfinite(self.threshold) and math.isfinite(self.slope)
                and self.slope > 0 and math.isfinite(above) and above >= self.slope):
            raise InputError(f"block calibration: threshold must be finite, slope positive "
                             f"and the slope above the threshold no smaller, got "
                             f"({self.threshold}, {self.slope}, {self.slope_above})")

    @property
    def upper_slope(self) -> float:
        """The slope above the threshold."""
        return self.slope if self.slope_above is None else self.slope_above

    def probability(self, logits: NDArray[np.floating] | float) -> NDArray[np.float64]:
        """Calibrated probabilities of ``logits``."""
        d = np.asarray(logits, dtype=np.float64) - self.threshold
        z = np.where(d > 0, self.upper_slope, self.slope) * d
        return 0.5 * (1.0 + np.tanh(0.5 * z))

    def to_meta(self) -> dict[str, Any]:
        """The record kept in a model file's ``meta["calibration"]``."""
        return {"threshold": self.threshold, "slope": self.slope,
                "slope_above": self.slope_above, "source": dict(self.source or {})}

    @classmethod
    def from_meta(cls, record: Any, where: str) -> BlockCalibration:
        """Read :meth:`to_meta`'s record.

        Raises:
            InputError: naming ``where``, when the record is not one.
        """
        try:
            above = record.get("slope_above")
            return cls(float(record["threshold"]), float(record["slope"]),
                       dict(record.get("source") or {}),
                       None if above is None else float(above))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InputError(f"{where}: meta['calibration'] is not a block calibration "
                             f"record (threshold, slope): {exc}") from None


def _penalised_slope(z: NDArray[np.float64], y: NDArray[np.float64], penalty: float,
                     low: float) -> float:
    def loss(a: float) -> float:
        s = a * z
        return float(np.mean(np.logaddexp(0.0, s) - y * s) + penalty * (a - 1.0) ** 2)

    res = minimize_scalar(loss, bounds=(low, 1e3), method="bounded")
    return float(res.x)


def _labelled(logits: Sequence[float] | NDArray[np.floating],
              labels: Sequence[float] | NDArray[np.floating], threshold: float
              ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    z = np.asarray(logits, dtype=np.float64).ravel() - threshold
    y = np.asarray(labels, dtype=np.float64).ravel()
    if z.shape != y.shape or not np.isin(y, (0.0, 1.0)).all():
        raise InputError("block calibration: logits and labels must have the same length, "
                         "labels holding 0/1")
    return z, y


def fit_slope(logits: Sequence[float] | NDArray[np.floating],
              labels: Sequence[float] | NDArray[np.floating], threshold: float,
              penalty: float = SLOPE_PENALTY) -> float:
    """Platt slope of ``sigmoid(slope (logit - threshold))`` by penalised maximum
    likelihood on labelled logits (0 = quiet, 1 = deformed).

    Raises:
        InputError: fewer than 2 of either class, or mismatched lengths.
    """
    z, y = _labelled(logits, labels, threshold)
    if min(int(y.sum()), int((1 - y).sum())) < 2:
        raise InputError("block calibration: need at least 2 quiet and 2 deformed maps")
    return _penalised_slope(z, y, penalty, 1e-3)


def fit_slope_above(logits: Sequence[float] | NDArray[np.floating],
                    labels: Sequence[float] | NDArray[np.floating], threshold: float,
                    slope: float, penalty: float = SLOPE_PENALTY) -> float:
    """The slope above the threshold: the same penalised fit on the maps above it alone,
    never below ``slope`` (so that P rises with the logit). One slope through the
    threshold is set mostly by the maps near it, where small sources and quiet maps
    overlap, and leaves P too low for maps far above every quiet one (module docstring).

    Returns:
        The slope; ``slope`` when fewer than 2 deformed maps lie above the threshold.

    Raises:
        InputError: mismatched lengths or labels that are not 0/1.
    """
    z, y = _labelled(logits, labels, threshold)
    above = z > 0
    if int(y[above].sum()) < 2:
        return float(slope)
    return max(float(slope), _penalised_slope(z[above], y[above], penalty, float(slope)))


class BlockDetector:
    """The block network as a detector of displacement maps (a ``monitor.ports.Detector``).

    Calibrated on single interferograms, it judges a series' newest increment
    (``series_input``, :func:`monitor.science.scoring.series_input`).

    Args:
        net: The trained network (put in eval mode).
        calibration: Its calibration (module docstring).
        pixel_m: Pixel size ``(east, north)`` of the maps it will score, metres.
        heights_m: The frame's heights on the maps' grid (None: no height term).
        threshold: Flag when the calibrated P exceeds this (0.5).
        batch: Windows per network call.
    """

    #: What the watch's rule 1 gives it of an epoch (:mod:`monitor.science.scoring`).
    series_input: ClassVar[str] = "increment"

    def __init__(self, net: BlockNet, calibration: BlockCalibration,
                 pixel_m: tuple[float, float],
                 heights_m: NDArray[np.floating] | None = None, threshold: float = 0.5,
                 batch: int = 64) -> None:
        east, north = (float(v) for v in pixel_m)
        if not (east > 0 and north > 0 and math.isfinite(east) and math.isfinite(north)):
            raise InputError(f"block detector: pixel_m must be two positive sizes in metres, "
                             f"got {pixel_m!r}")
        if not 0.0 <= float(threshold) <= 1.0:
            raise InputError(f"block detector: threshold must lie in [0, 1], got "
                             f"{threshold!r}")
        self.net = net.eval()
        self.calibration = calibration
        self.pixel_m = (east, north)
        self.factor = block_factor(self.pixel_m, BLOCK_M)
        self.heights_m = None if heights_m is None else np.asarray(heights_m, np.float64)
        self._height_blocks = (None if self.heights_m is None or self.heights_m.ndim != 2
                               or min(self.heights_m.shape) < self.factor
                               else block_mean(self.heights_m, self.factor))
        self.threshold = float(threshold)
        self.batch = int(batch)

    def _blocks(self, displacement_m: NDArray[np.floating]
                ) -> tuple[NDArray[np.float64], NDArray[np.float64] | None]:
        d = np.asarray(displacement_m, dtype=np.float64)
        if d.ndim != 2:
            raise InputError(f"block detector: the map must be 2-D, got shape {d.shape}")
        if d.shape[0] < 4 * self.factor or d.shape[1] < 4 * self.factor:
            raise InputError(f"block detector: map {d.shape} is smaller than 4 blocks of "
                             f"{self.factor} px a side")
        if self.heights_m is not None and self.heights_m.shape != d.shape:
            raise InputError(f"block detector: heights {self.heights_m.shape} and map "
                             f"{d.shape} differ in shape")
        return block_mean(d, self.factor), self._height_blocks

    def recalibrated(self, calibration: BlockCalibration) -> BlockDetector:
        """The same network, heights and flag threshold with another calibration (a
        series' own threshold, :mod:`~monitor.science.detect.series_blocks`)."""
        out = object.__new__(BlockDetector)
        out.__dict__.update(self.__dict__)
        out.calibration = calibration
        return out

    @staticmethod
    def _windows(b: NDArray[np.float64], h: NDArray[np.float64] | None
                 ) -> tuple[list[tuple[int, int]], list[NDArray[np.float32]]]:
        """The first block row and column and the input channels of every window of a
        block-mean map with enough valid blocks.

        Raises:
            InputError: no window has enough valid blocks.
        """
        ny, nx = b.shape
        wy, wx = min(ny, WINDOW_BLOCKS), min(nx, WINDOW_BLOCKS)
        starts, xs = [], []
        for r in window_starts(ny, WINDOW_BLOCKS):
            for c in window_starts(nx, WINDOW_BLOCKS):
                try:
                    x = window_channels(b[r:r + wy, c:c + wx],
                                        None if h is None else h[r:r + wy, c:c + wx])
                except InputError:
                    continue  # mostly incoherent: nothing to score there
                starts.append((r, c))
                xs.append(x)
        if not xs:
            raise InputError(f"block detector: no window of {wy} x {wx} blocks of the "
                             f"{ny} x {nx}-block map has enough valid blocks")
        return starts, xs

    def block_logits(self, maps: Sequence[NDArray[np.floating]],
                     heights: NDArray[np.floating] | None) -> list[float]:
        """The best window's raw logit of each of ``maps``, maps already averaged over
        blocks of this detector's size (``(h, w)`` metres each, NaN: invalid), with the
        heights' block means on the same blocks (None: no height term); NaN for a map with
        no window of enough valid blocks. The windows of all the maps go through the
        network in batches.

        Raises:
            InputError: mismatched shapes.
        """
        h = None if heights is None else np.asarray(heights, dtype=np.float64)
        owner: list[int] = []
        xs: list[NDArray[np.float32]] = []
        for k, blocks in enumerate(maps):
            b = np.asarray(blocks, dtype=np.float64)
            if b.ndim != 2 or (h is not None and h.shape != b.shape):
                raise InputError(f"block detector: blocks {b.shape} and heights "
                                 f"{None if h is None else h.shape} must be one 2-D shape")
            try:
                windows = self._windows(b, h)[1]
            except InputError:
                continue  # no window to score: NaN
            owner += [k] * len(windows)
            xs += windows
        out = [float("nan")] * len(maps)
        with torch.no_grad():
            for i in range(0, len(xs), self.batch):
                logits = self.net(torch.from_numpy(np.stack(xs[i:i + self.batch])))
                for k, v in zip(owner[i:i + self.batch], logits.tolist(), strict=True):
                    out[k] = v if math.isnan(out[k]) else max(out[k], v)
        return out

    def window_logits(self, displacement_m: NDArray[np.floating]
                      ) -> list[tuple[int, int, float, int, int]]:
        """Every scored window: its first block row and column, its logit, and the block
        (row, column) of its evidence (the block of largest |residual| in or near the cell
        of largest evidence). Windows with too few valid blocks are skipped.

        Raises:
            InputError: not a 2-D map, a map smaller than 4 blocks a side, or no window
                with enough valid blocks.
        """
        b, h = self._blocks(displacement_m)
        starts, xs = self._windows(b, h)
        out = []
        with torch.no_grad():
            for i in range(0, len(xs), self.batch):
                logits, ev = self.net.evidence(torch.from_numpy(np.stack(xs[i:i + self.batch])))
                for k in range(len(logits)):
                    e = ev[k].numpy()
                    er, ec = divmod(int(np.argmax(e)), e.shape[1])
                    # a cell of the last map covers 4 x 4 blocks; the peak is the block of
                    # largest |residual| in it or within PEAK_MARGIN blocks of it
                    ra, ca = max(0, 4 * er - PEAK_MARGIN), max(0, 4 * ec - PEAK_MARGIN)
                    near = np.abs(xs[i + k][0, ra:4 * er + 4 + PEAK_MARGIN,
                                            ca:4 * ec + 4 + PEAK_MARGIN])
                    br, bc = divmod(int(np.argmax(near)), near.shape[1])
                    r0, c0 = starts[i + k]
                    out.append((r0, c0, float(logits[k]), r0 + ra + br, c0 + ca + bc))
        return out

    def detect(self, displacement_m: NDArray[np.floating]) -> Detection:
        """Score ``displacement_m`` (LOS metres ``(ny, nx)``, NaN = no data).

        Returns:
            The detection: ``prob_map`` holds, at each pixel, the largest calibrated P of
            the windows that cover it (the pixels past the last whole block belong to the
            windows on the map's edge); ``p_fused`` the best window's P; the peak at the
            centre of its evidence block (:meth:`window_logits`); ``p_by_gain`` empty (no
            gains).

        Raises:
            InputError: as :meth:`window_logits`.
        """
        d = np.asarray(displacement_m)
        windows = self.window_logits(d)
        f = self.factor
        nby, nbx = d.shape[0] // f, d.shape[1] // f
        wy, wx = min(nby, WINDOW_BLOCKS), min(nbx, WINDOW_BLOCKS)
        prob = np.zeros(d.shape, np.float32)
        best = max(windows, key=lambda w: w[2])
        for r0, c0, logit, _, _ in windows:
            p = float(self.calibration.probability(logit))
            # a window on the last whole block also covers the pixels past it
            r1 = d.shape[0] if r0 + wy == nby else (r0 + wy) * f
            c1 = d.shape[1] if c0 + wx == nbx else (c0 + wx) * f
            view = prob[r0 * f:r1, c0 * f:c1]
            np.maximum(view, p, out=view)
        p_best = float(self.calibration.probability(best[2]))
        row = min(best[3] * f + f // 2, d.shape[0] - 1)
        col = min(best[4] * f + f // 2, d.shape[1] - 1)
        return Detection(p_fused=p_best, p_by_gain={}, flag=p_best > self.threshold,
                         peak_row=row, peak_col=col, prob_map=prob, threshold=self.threshold)
