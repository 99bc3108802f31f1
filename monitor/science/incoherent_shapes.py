"""Incoherent regions with the shapes of real ones.

:func:`monitor.science.decorrelation.incoherent_patches` draws star-shaped blobs. Real
low-coherence areas are also ragged, multiply connected regions (forest and cropland
that decorrelate within days; Zebker, H. A. & Villasenor, J. (1992), Decorrelation in
interferometric radar echoes, IEEE Trans. Geosci. Remote Sens. 30(5), 950-959,
doi:10.1109/36.175330), and long bands that follow valleys, rivers and wet valley floors
(Ebmeier et al. 2013, Geol. Soc. Spec. Publ. 380, on the coherence of volcanoes in the
tropics). Three generators:

* :func:`excursion_mask`: the excursion set of a smooth Gaussian random field above the
  quantile that gives a requested area fraction (ragged, clustered, holed regions whose
  size is set by the field's smoothing length; Adler, R. J. (1981), The Geometry of
  Random Fields, Wiley).
* :func:`band_mask`: a meandering band of varying width across the scene (a valley or a
  river with its wet floodplain).
* :func:`mask_from_coherence`: the incoherent pixels of a real coherence map given as an
  array, cropped at random, flipped and rotated.

Masks are bool ``(ny, nx)``, True = incoherent, row 0 at the north edge.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from monitor.errors import InputError
from monitor.science.decorrelation import DEFAULT_COHERENCE_THRESHOLD, smooth_gaussian_field
from monitor.science.grids import check_grid


def excursion_mask(
    shape: tuple[int, int],
    pixel_m: float,
    rng: np.random.Generator,
    fraction: float,
    length_m: float = 1000.0,
) -> NDArray[np.bool_]:
    """Pixels where a smooth Gaussian field exceeds its ``1 - fraction`` quantile.

    Args:
        shape: ``(ny, nx)``.
        pixel_m: Pixel spacing, metres.
        rng: Random generator.
        fraction: Area fraction of the mask, in [0, 1).
        length_m: Smoothing kernel of the field, metres (> 0): the size of the regions.

    Returns:
        Bool mask holding ``round(fraction * ny * nx)`` pixels (up to ties).
    """
    ny, nx, pixel_m = check_grid(shape, pixel_m)
    if not (math.isfinite(fraction) and 0.0 <= fraction < 1.0):
        raise InputError(f"excursion_mask: fraction must lie in [0, 1), got {fraction!r}")
    if not (math.isfinite(length_m) and length_m > 0):
        raise InputError(f"excursion_mask: length_m must be > 0 metres, got {length_m!r}")
    z = smooth_gaussian_field((ny, nx), length_m / pixel_m, rng)
    n = int(round(fraction * ny * nx))
    if n == 0:
        return np.zeros((ny, nx), bool)
    level = np.partition(z.ravel(), z.size - n)[z.size - n]
    return np.asarray(z >= level)


def band_mask(
    shape: tuple[int, int],
    pixel_m: float,
    rng: np.random.Generator,
    width_m: float = 800.0,
    meander_m: float = 1500.0,
    meander_wavelength_m: float = 6000.0,
) -> NDArray[np.bool_]:
    """A meandering band of varying width that crosses the scene.

    The centreline runs through a random point of the middle half of the grid in a random
    direction and wanders sideways by a sum of three sinusoids (wavelengths
    ``meander_wavelength_m`` times 1, 1/2 and 1/3, random phases, total amplitude up to
    ``meander_m``); the width varies by +-40 % along it.

    Args:
        shape: ``(ny, nx)``.
        pixel_m: Pixel spacing, metres.
        rng: Random generator.
        width_m: Mean band width, metres (> 0).
        meander_m: Sideways amplitude of the centreline, metres (>= 0).
        meander_wavelength_m: Longest meander wavelength, metres (> 0).

    Returns:
        Bool mask, True inside the band.
    """
    ny, nx, pixel_m = check_grid(shape, pixel_m)
    for name, value, strict in (("width_m", width_m, True), ("meander_m", meander_m, False),
                                ("meander_wavelength_m", meander_wavelength_m, True)):
        if not (math.isfinite(value) and (value > 0 if strict else value >= 0)):
            raise InputError(f"band_mask: {name} must be a {'positive' if strict else '>= 0'}"
                             f" number of metres, got {value!r}")
    cy, cx = rng.uniform(0.25 * ny, 0.75 * ny), rng.uniform(0.25 * nx, 0.75 * nx)
    theta = float(rng.uniform(0.0, math.pi))
    rows = (np.arange(ny, dtype=np.float64)[:, None] + 0.5 - cy) * pixel_m
    cols = (np.arange(nx, dtype=np.float64)[None, :] + 0.5 - cx) * pixel_m
    u = cols * math.cos(theta) + rows * math.sin(theta)
    v = -cols * math.sin(theta) + rows * math.cos(theta)
    amps = rng.uniform(0.0, 1.0, size=3)
    amps *= meander_m / max(float(amps.sum()), 1e-12)
    phases = rng.uniform(0.0, 2.0 * math.pi, size=4)
    k = 2.0 * math.pi / meander_wavelength_m
    centre = sum(amps[j] * np.sin((j + 1) * k * u + phases[j]) for j in range(3))
    width = width_m * (1.0 + 0.4 * np.sin(0.5 * k * u + phases[3]))
    return np.asarray(np.abs(v - centre) <= 0.5 * width)


def mask_from_coherence(
    coherence: ArrayLike,
    shape: tuple[int, int],
    rng: np.random.Generator,
    threshold: float = DEFAULT_COHERENCE_THRESHOLD,
) -> NDArray[np.bool_]:
    """The incoherent pixels of a random crop of a real coherence map.

    Args:
        coherence: Coherence map in [0, 1] (NaN counts as incoherent), at least ``shape``.
        shape: ``(ny, nx)`` of the mask.
        rng: Random generator (crop offset, a left-right flip with probability 1/2 and, for
            square shapes, a random quarter turn).
        threshold: Coherence at or below which a pixel is incoherent, in [0, 1).

    Returns:
        Bool mask, True where the crop's coherence is <= ``threshold`` or NaN.
    """
    ny, nx, _ = check_grid(shape, 1.0)
    coh = np.asarray(coherence, dtype=np.float32)
    if coh.ndim != 2 or coh.shape[0] < ny or coh.shape[1] < nx:
        raise InputError(f"mask_from_coherence: coherence must be a 2-D map at least "
                         f"{(ny, nx)}, got shape {coh.shape}")
    if not 0.0 <= threshold < 1.0:
        raise InputError(f"mask_from_coherence: threshold must lie in [0, 1), "
                         f"got {threshold!r}")
    r0 = int(rng.integers(coh.shape[0] - ny + 1))
    c0 = int(rng.integers(coh.shape[1] - nx + 1))
    crop = coh[r0:r0 + ny, c0:c0 + nx]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    if ny == nx:
        crop = np.rot90(crop, int(rng.integers(4)))
    return np.ascontiguousarray(~(crop > threshold))
