"""Semi-real training samples: generated deformation added to real quiet interferograms.

The generator (:mod:`monitor.science.synth`) draws atmosphere from published statistics;
real Sentinel-1 interferograms carry more (stronger and longer-range turbulence,
residual stratification, processing artefacts, holes), and a network trained on the
generator alone fires on them. Anantrasirichai et al. (2019a, "Application of machine
learning to classification of volcanic deformation in routinely generated InSAR data",
J. Geophys. Res. Solid Earth 123, doi:10.1029/2018JB015911) fine-tune their network on
real interferograms; this module turns a bank of real quiet epochs into 2-class training
samples the same way :mod:`monitor.science.synth` draws synthetic ones:

* **Noise** (both classes): a span of ``k`` consecutive quiet increments of one frame
  (``1 <= k <= max_span``), summed. The sum of the increments ``t0 -> t1 -> ... -> tk``
  is the interferogram ``t0 -> tk``: the atmosphere of the intermediate dates cancels, so
  each span is a real interferogram of its own, not a blend. The map's sign is flipped
  with probability 1/2 (the pair read the other way round) and its amplitude scaled by a
  log-uniform factor in ``noise_scale`` (atmosphere of a wetter or a drier pair).
* **Window**: a random ``size`` x ``size`` window of the map where the map is larger; a
  smaller map is used whole and edge-padded after its last row and column, as the
  detector pads it at inference (:mod:`monitor.science.detect.patching`), so the network
  is trained on what it sees.
* **Deformation** (class 1 only): one source drawn by
  :func:`monitor.science.synth.draw_deformation` with the recipe's source kinds, ranges,
  geometry and peak LOS, on the real window's grid, added before padding. NaN pixels of
  the real map stay NaN.

Sample ``i`` of a set drawn with ``seed`` uses its own generator
(:func:`monitor.science.synth.sample_rng`), classes alternating, so a set is the same
whatever the order in which it is written.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

import numpy as np
from numpy.typing import NDArray

from monitor.errors import InputError
from monitor.science.synth import SynthRecipe, draw_deformation, sample_rng


@dataclass(frozen=True)
class NoiseEpoch:
    """One real quiet increment: LOS displacement, metres ``(ny, nx)``, NaN = no data."""

    date1: date
    date2: date
    displacement_m: NDArray[np.float32]


@dataclass(frozen=True)
class SemiRealRecipe:
    """How semi-real samples are drawn (module docstring).

    Attributes:
        size: Sample side, pixels (the networks' 224).
        pixel_m: Pixel spacing the deformation is drawn on, metres.
        max_span: Longest span of consecutive increments summed into one noise map.
        noise_scale: Range of the log-uniform amplitude factor of the noise.
        synth: Source kinds, ranges, geometry and peak LOS of the deformation (its
            ``shape`` and ``pixel_m`` are replaced by the window's).
    """

    size: int = 224
    pixel_m: float = 100.0
    max_span: int = 3
    noise_scale: tuple[float, float] = (0.7, 1.4)
    synth: SynthRecipe = field(default_factory=lambda: SynthRecipe(peak_los_m=(0.015, 0.2)))

    def __post_init__(self) -> None:
        if self.size < 8:
            raise InputError(f"semi-real: size must be at least 8 pixels, got {self.size}")
        if not (self.pixel_m > 0 and math.isfinite(self.pixel_m)):
            raise InputError(f"semi-real: pixel_m must be positive, got {self.pixel_m}")
        if self.max_span < 1:
            raise InputError(f"semi-real: max_span must be at least 1, got {self.max_span}")
        lo, hi = self.noise_scale
        if not (0 < lo <= hi and math.isfinite(hi)):
            raise InputError(f"semi-real: noise_scale must be (min, max) with 0 < min <= max, "
                             f"got {self.noise_scale}")


@dataclass(frozen=True)
class SemiRealSample:
    """One sample: ``x`` LOS metres ``(size, size)``, its label and what was drawn."""

    x: NDArray[np.float32]
    label: int
    meta: dict[str, Any]


def spans(epochs: Sequence[NoiseEpoch], max_span: int) -> list[tuple[int, int]]:
    """Every ``(start, k)``: ``k <= max_span`` consecutive epochs that chain (each one's
    second date is the next one's first), in order."""
    out: list[tuple[int, int]] = []
    for start in range(len(epochs)):
        k = 1
        out.append((start, 1))
        while (k < max_span and start + k < len(epochs)
               and epochs[start + k - 1].date2 == epochs[start + k].date1):
            k += 1
            out.append((start, k))
    return out


def check_bank(epochs: Sequence[NoiseEpoch]) -> tuple[int, int]:
    """The common shape of a noise bank; an error naming the first epoch that differs."""
    if not epochs:
        raise InputError("semi-real: the noise bank is empty; give at least one quiet epoch")
    shape = epochs[0].displacement_m.shape
    for e in epochs:
        if e.displacement_m.shape != shape or e.displacement_m.ndim != 2:
            raise InputError(f"semi-real: epoch {e.date1:%Y%m%d}_{e.date2:%Y%m%d} is "
                             f"{e.displacement_m.shape}, the bank's maps are {shape}")
        if not np.isfinite(e.displacement_m).any():
            raise InputError(f"semi-real: epoch {e.date1:%Y%m%d}_{e.date2:%Y%m%d} holds no "
                             "finite pixel")
    return (int(shape[0]), int(shape[1]))


def span_map(epochs: Sequence[NoiseEpoch], start: int, k: int) -> NDArray[np.float64]:
    """The interferogram ``epochs[start].date1 -> epochs[start + k - 1].date2``: the sum of
    the ``k`` increments, NaN where any of them is NaN."""
    out = np.array(epochs[start].displacement_m, dtype=np.float64)
    for j in range(start + 1, start + k):
        out += epochs[j].displacement_m
    return out


def _window(rng: np.random.Generator, shape: tuple[int, int],
            size: int) -> tuple[slice, slice]:
    ny, nx = shape
    r0 = int(rng.integers(ny - size + 1)) if ny > size else 0
    c0 = int(rng.integers(nx - size + 1)) if nx > size else 0
    return slice(r0, r0 + min(size, ny)), slice(c0, c0 + min(size, nx))


def inject(noise_m: NDArray[np.floating], rng: np.random.Generator, synth: SynthRecipe,
           pixel_m: float) -> tuple[NDArray[np.float64], dict[str, Any]]:
    """``noise_m`` plus one source drawn by :func:`monitor.science.synth.draw_deformation`
    on its grid (``synth``'s kinds, ranges, geometry and peak LOS), and what was drawn;
    NaN pixels stay NaN."""
    recipe = replace(synth, shape=noise_m.shape, pixel_m=pixel_m)
    inc = float(rng.uniform(*recipe.incidence_deg))
    head = float(rng.uniform(*recipe.heading_deg))
    d, meta = draw_deformation(rng, recipe, inc, head)
    return np.asarray(noise_m, dtype=np.float64) + d, {**meta, "incidence_deg": inc,
                                                        "heading_deg": head}


def semireal_sample(epochs: Sequence[NoiseEpoch], candidates: Sequence[tuple[int, int]],
                    recipe: SemiRealRecipe, rng: np.random.Generator,
                    label: int) -> SemiRealSample:
    """Draw one sample of class ``label`` (0: real noise, 1: noise plus deformation).

    Args:
        epochs: The noise bank, in date order.
        candidates: ``spans(epochs, recipe.max_span)``.
        recipe: What to draw.
        rng: This sample's generator.
        label: 0 or 1.
    """
    if label not in (0, 1):
        raise InputError(f"semi-real: label must be 0 or 1, got {label}")
    start, k = candidates[int(rng.integers(len(candidates)))]
    noise = span_map(epochs, start, k)
    sign = -1.0 if rng.random() < 0.5 else 1.0
    lo, hi = recipe.noise_scale
    scale = float(np.exp(rng.uniform(math.log(lo), math.log(hi))))
    rows, cols = _window(rng, noise.shape, recipe.size)
    x = noise[rows, cols] * (sign * scale)
    meta: dict[str, Any] = {"pair": f"{epochs[start].date1:%Y%m%d}_"
                                    f"{epochs[start + k - 1].date2:%Y%m%d}",
                            "span": k, "sign": sign, "noise_scale": scale,
                            "window": [rows.start, cols.start, x.shape[0], x.shape[1]],
                            "peak_los_m": 0.0}
    if label == 1:
        x, dmeta = inject(x, rng, recipe.synth, recipe.pixel_m)
        meta.update(dmeta)
    pad = ((0, recipe.size - x.shape[0]), (0, recipe.size - x.shape[1]))
    out = np.pad(x, pad, mode="edge") if any(p[1] for p in pad) else x
    return SemiRealSample(np.asarray(out, dtype=np.float32), label, meta)


def dataset_sample(epochs: Sequence[NoiseEpoch], candidates: Sequence[tuple[int, int]],
                   recipe: SemiRealRecipe, seed: int, index: int) -> SemiRealSample:
    """Sample ``index`` of the semi-real set ``seed``: classes alternate (0, 1, 0, ...)."""
    return semireal_sample(epochs, candidates, recipe, sample_rng(seed, index), index % 2)
