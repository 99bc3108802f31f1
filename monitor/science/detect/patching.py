"""Patching (Anantrasirichai et al. 2019a): patch grid and padding, Canny prefilter, merge.

Anantrasirichai et al. (2019a, section 4.3) score an interferogram in 224 x 224 patches
whose top-left corner moves in steps of 28 pixels; patches without a phase jump (Canny edge
detection on the wrapped phase) are background and not shown to the network; the patch
probabilities are merged into a map smoothed with a Gaussian (20 px, sigma 5). This module
holds the parts that do not involve the network, shared by both inference paths so that
they agree.

Padding rule (``coverage``):

* ``"centres"``: along each axis of ``n`` pixels, ``k = ceil((n - 1) / 28) + 1``
  patches, so that their centres, 28 px apart, span at least ``n - 1`` pixels; the padded
  length is ``L = 224 + 28 (k - 1)`` and the ``L - n`` padding pixels are split equally
  between both sides (the odd one after: bottom or right). Every image pixel centre is
  then within 14 px of a patch centre (the geometric centre of the 224 px window) along
  each axis, the outermost patch centres lie at most half a pixel inside the outermost
  pixel centres, and deformation at the image border is seen from patches centred on it,
  as in the image interior.
* ``"seed"`` (default): the literal rule of Anantrasirichai et al. (2019a): the first
  patch's top-left corner on the image's top-left pixel,
  ``k = ceil(max(n - 224, 0) / 28) + 1`` patches, all padding after (bottom and right).
  About 3 times fewer patches for a 500 x 500 image. It is the default because
  ``"centres"`` pads about 112 px of repeated border pixels on every side, and patches that
  are half padding are unlike anything in training: on the threshold protocol of
  Anantrasirichai et al. (2019b) (224 x 224 images) the trained compact net's fused
  threshold was 9.2 cm with ``"centres"`` and 0.8 cm with ``"seed"``.

Padding repeats the border pixels (numpy ``"edge"`` mode) of the encoded channels; since
the encodings are pointwise this equals edge-padding the wrapped phase.

Phase jumps: :func:`phase_jump_edges` runs Canny (:mod:`monitor.science.detect.canny`, the
edges of :func:`skimage.feature.canny`, bit for bit) once on the whole unpadded wrapped
phase, with NaN set to 0 and a validity mask, so that edges at the borders of incoherent
areas and on the outermost image pixels are excluded (skimage erodes the mask by one pixel
and normalises the Gaussian smoothing by the mask). The hysteresis thresholds are given as
step heights in radians, converted to the gradient magnitude of a Canny-smoothed step of
that height (high: pi, half a wrap jump; low: pi / 2). A patch is tested when at least
``min_edge_pixels`` edge pixels fall inside it (padding holds no edges).

Merge: each pixel takes the mean probability of all patches covering it (background
patches count as 0), then the map is smoothed with ``scipy.ndimage.gaussian_filter``,
sigma 5 px, ``truncate=2.0`` (a 21-tap kernel of radius 10 px, the closest symmetric match
to the paper's 20 px window), ``mode="nearest"`` at the image borders.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage

from monitor.errors import InputError
from monitor.science.detect.canny import CannyMask, canny_mask, masked_canny
from monitor.science.detect.names import PATCH_COVERAGES

COVERAGES = PATCH_COVERAGES


@dataclass(frozen=True)
class PatchConfig:
    """Settings of patch scoring (Anantrasirichai et al. 2019a).

    Attributes:
        patch_size: Patch side, pixels (224, the networks' input).
        stride: Step between patch corners, pixels (28).
        coverage: Padding rule, ``"centres"`` or ``"seed"`` (module docstring).
        canny_sigma: Gaussian smoothing of the Canny detector, pixels.
        canny_low_step_rad: Low hysteresis threshold, as a phase step height, radians.
        canny_high_step_rad: High hysteresis threshold, as a phase step height, radians.
        min_edge_pixels: Edge pixels a patch needs to be tested (1: any phase jump).
        smooth_sigma_px: Standard deviation of the merge Gaussian, pixels (5).
        smooth_truncate: Gaussian radius in sigmas (2.0: radius 10 px, 21 taps).
    """

    patch_size: int = 224
    stride: int = 28
    coverage: str = "seed"
    canny_sigma: float = 1.0
    canny_low_step_rad: float = math.pi / 2
    canny_high_step_rad: float = math.pi
    min_edge_pixels: int = 1
    smooth_sigma_px: float = 5.0
    smooth_truncate: float = 2.0

    def __post_init__(self) -> None:
        if not (isinstance(self.patch_size, int) and self.patch_size > 0):
            raise InputError(f"patch_size must be a positive integer, got {self.patch_size!r}")
        if not (isinstance(self.stride, int) and 0 < self.stride <= self.patch_size):
            raise InputError(
                f"stride must be an integer in [1, patch_size={self.patch_size}], "
                f"got {self.stride!r}"
            )
        if self.coverage not in COVERAGES:
            raise InputError(f"coverage must be one of {COVERAGES}, got {self.coverage!r}")
        if not (self.canny_sigma > 0 and math.isfinite(self.canny_sigma)):
            raise InputError(f"canny_sigma must be > 0 pixels, got {self.canny_sigma!r}")
        if not (0 < self.canny_low_step_rad <= self.canny_high_step_rad < math.inf):
            raise InputError(
                f"Canny thresholds must satisfy 0 < canny_low_step_rad <= "
                f"canny_high_step_rad, got {self.canny_low_step_rad!r} and "
                f"{self.canny_high_step_rad!r}"
            )
        if not (isinstance(self.min_edge_pixels, int) and self.min_edge_pixels >= 0):
            raise InputError(
                f"min_edge_pixels must be an integer >= 0, got {self.min_edge_pixels!r}"
            )
        if not (self.smooth_sigma_px >= 0 and math.isfinite(self.smooth_sigma_px)):
            raise InputError(f"smooth_sigma_px must be >= 0, got {self.smooth_sigma_px!r}")
        if not (self.smooth_truncate > 0 and math.isfinite(self.smooth_truncate)):
            raise InputError(f"smooth_truncate must be > 0, got {self.smooth_truncate!r}")


@dataclass(frozen=True)
class PatchGrid:
    """Where the patches lie: the padding and the grid of patch corners.

    Patch ``(i, j)`` covers padded rows ``stride * i .. stride * i + patch_size - 1`` and
    the same for columns; padded row ``u`` is image row ``u - pad_top``.

    Attributes:
        ny, nx: Image shape.
        n_rows, n_cols: Number of patches along each axis.
        pad_top, pad_bottom, pad_left, pad_right: Padding, pixels.
        patch_size, stride: As in :class:`PatchConfig`.
    """

    ny: int
    nx: int
    n_rows: int
    n_cols: int
    pad_top: int
    pad_bottom: int
    pad_left: int
    pad_right: int
    patch_size: int
    stride: int

    @property
    def padded_shape(self) -> tuple[int, int]:
        return (self.ny + self.pad_top + self.pad_bottom, self.nx + self.pad_left + self.pad_right)


def _axis_layout(n: int, patch: int, stride: int, coverage: str) -> tuple[int, int, int]:
    """Patches, padding before and after along one axis of ``n`` pixels."""
    if coverage == "centres":
        k = -(-(n - 1) // stride) + 1
        extra = patch + stride * (k - 1) - n
        return k, extra // 2, extra - extra // 2
    k = -(-max(n - patch, 0) // stride) + 1
    return k, 0, patch + stride * (k - 1) - n


def patch_grid(ny: int, nx: int, config: PatchConfig | None = None) -> PatchGrid:
    """The patch grid and padding for an image of ``(ny, nx)`` pixels (module docstring)."""
    cfg = config or PatchConfig()
    if not (isinstance(ny, int | np.integer) and isinstance(nx, int | np.integer)) or min(
        ny, nx
    ) < 1:
        raise InputError(f"image shape must be at least 1 x 1 pixels, got ({ny!r}, {nx!r})")
    kr, top, bottom = _axis_layout(int(ny), cfg.patch_size, cfg.stride, cfg.coverage)
    kc, left, right = _axis_layout(int(nx), cfg.patch_size, cfg.stride, cfg.coverage)
    return PatchGrid(int(ny), int(nx), kr, kc, top, bottom, left, right, cfg.patch_size,
                     cfg.stride)


def check_wrapped(wrapped_rad: ArrayLike, name: str = "wrapped_rad") -> NDArray[np.float32]:
    """Validate wrapped phase: 2-D, at least 1 x 1, values in [-pi, pi] or NaN.

    Returns:
        The phase as float32 ``(ny, nx)``.

    Raises:
        InputError: Wrong shape, infinite values, values outside [-pi, pi] (not wrapped),
            or no finite value at all (an all-incoherent map is not "no deformation").
    """
    arr = np.asarray(wrapped_rad)
    if arr.ndim != 2 or arr.size == 0:
        raise InputError(f"{name} must be a 2-D (ny, nx) array, got shape {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise InputError(f"{name} must be a real-valued array, got dtype {arr.dtype}")
    psi = arr.astype(np.float32)
    finite = np.isfinite(psi)
    if np.isinf(psi).any():
        raise InputError(f"{name} holds infinite values; use NaN for incoherent pixels")
    if not finite.any():
        raise InputError(f"{name} has no finite pixel (all incoherent); nothing to score")
    peak = float(np.abs(psi[finite]).max())
    if peak > np.pi + 1e-4:
        raise InputError(
            f"{name} must be wrapped phase in [-pi, pi] radians, got |values| up to "
            f"{peak:.3f}; wrap or re-wrap it first (monitor.science.geometry.rewrap)"
        )
    return psi


def pad_channels(channels: NDArray[np.float32], grid: PatchGrid) -> NDArray[np.float32]:
    """Edge-pad encoded channels ``(C, ny, nx)`` to ``(C,) + grid.padded_shape``."""
    if channels.ndim != 3 or channels.shape[1:] != (grid.ny, grid.nx):
        raise InputError(
            f"channels must have shape (C, {grid.ny}, {grid.nx}), got {channels.shape}"
        )
    widths = ((0, 0), (grid.pad_top, grid.pad_bottom), (grid.pad_left, grid.pad_right))
    return np.ascontiguousarray(np.pad(channels, widths, mode="edge"))


@functools.lru_cache(maxsize=16)
def _unit_step_gradient(sigma: float) -> float:
    """Peak Canny gradient magnitude (Gaussian ``sigma`` then Sobel) of a unit step."""
    step = np.zeros((8 * int(math.ceil(sigma)) + 16,) * 2)
    step[:, step.shape[1] // 2:] = 1.0
    smooth = ndimage.gaussian_filter(step, sigma, mode="nearest")
    return float(np.hypot(ndimage.sobel(smooth, 0), ndimage.sobel(smooth, 1)).max())


def phase_jump_edges(
    wrapped_rad: ArrayLike, config: PatchConfig | None = None, mask: CannyMask | None = None
) -> NDArray[np.bool_]:
    """Canny edge map of wrapped phase (the phase jumps of Anantrasirichai et al. 2019a).

    Args:
        wrapped_rad: Wrapped phase, radians, ``(ny, nx)``; NaN = incoherent.
        config: Canny settings (sigma, thresholds as step heights in radians).
        mask: Canny mask terms of the coherent pixels (:func:`canny_mask`), to share
            between images with the same NaN pixels (the gains of one epoch); computed
            here when None or when they belong to other pixels.

    Returns:
        Boolean ``(ny, nx)``: True on edge pixels. Never True on NaN pixels, on their
        8-neighbours, or on the outermost image row and column.
    """
    cfg = config or PatchConfig()
    psi = check_wrapped(wrapped_rad)
    valid = np.isfinite(psi)
    if mask is None or not mask.matches(valid, cfg.canny_sigma, "nearest"):
        mask = canny_mask(valid, cfg.canny_sigma, "nearest")
    image = np.where(valid, psi, 0.0).astype(np.float64)
    scale = _unit_step_gradient(float(cfg.canny_sigma))
    edges = masked_canny(image, mask, cfg.canny_low_step_rad * scale,
                         cfg.canny_high_step_rad * scale)
    return edges & valid


def _window_ranges(n: int, pad_before: int, k: int, patch: int,
                   stride: int) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """Image index range [start, stop) covered by each of ``k`` patches along one axis."""
    start = np.arange(k) * stride - pad_before
    return np.clip(start, 0, n), np.clip(start + patch, 0, n)


def patch_edge_counts(edges: NDArray[np.bool_], grid: PatchGrid) -> NDArray[np.int64]:
    """Number of edge pixels inside each patch, ``(n_rows, n_cols)`` (padding has none)."""
    if edges.shape != (grid.ny, grid.nx):
        raise InputError(f"edges must have shape ({grid.ny}, {grid.nx}), got {edges.shape}")
    table = np.zeros((grid.ny + 1, grid.nx + 1), dtype=np.int64)
    table[1:, 1:] = np.cumsum(np.cumsum(edges, axis=0, dtype=np.int64), axis=1)
    r0, r1 = _window_ranges(grid.ny, grid.pad_top, grid.n_rows, grid.patch_size, grid.stride)
    c0, c1 = _window_ranges(grid.nx, grid.pad_left, grid.n_cols, grid.patch_size, grid.stride)
    return np.asarray(
        table[np.ix_(r1, c1)] - table[np.ix_(r0, c1)] - table[np.ix_(r1, c0)]
        + table[np.ix_(r0, c0)]
    )


def prefilter_patches(wrapped_rad: ArrayLike, grid: PatchGrid,
                      config: PatchConfig | None = None,
                      mask: CannyMask | None = None) -> NDArray[np.bool_]:
    """Which patches hold a phase jump and go to the network, ``(n_rows, n_cols)`` bool.

    With ``min_edge_pixels = 0`` the prefilter is off and every patch is tested. ``mask``:
    shared Canny mask terms, as in :func:`phase_jump_edges`.
    """
    cfg = config or PatchConfig()
    if cfg.min_edge_pixels == 0:
        check_wrapped(wrapped_rad)
        return np.ones((grid.n_rows, grid.n_cols), dtype=bool)
    counts = patch_edge_counts(phase_jump_edges(wrapped_rad, cfg, mask), grid)
    return np.asarray(counts >= cfg.min_edge_pixels)


def _covering(n: int, pad_before: int, k: int, patch: int,
              stride: int) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """For each image pixel along an axis, first and last index of the patches covering it."""
    u = np.arange(n) + pad_before
    first = np.maximum(0, -((patch - 1 - u) // stride))
    last = np.minimum(k - 1, u // stride)
    return first, last


@functools.lru_cache(maxsize=32)
def _merge_axis(n: int, pad_before: int, k: int, patch: int, stride: int, sigma: float,
                truncate: float) -> tuple[NDArray[np.intp], NDArray[np.intp],
                                          NDArray[np.intp], NDArray[np.float64]]:
    """The merge along one axis, as a banded linear operator on runs of pixels.

    Pixels covered by the same patches (``first .. last``) form a run, and the mean over
    covering patches is constant on each run. The operator that spreads run values to
    pixels and applies the 1-D Gaussian is ``scipy.ndimage.gaussian_filter1d`` (``mode=
    "nearest"``) of the run indicators, an ``(n, m)`` matrix; each pixel reads only a few
    neighbouring runs, so it is stored as ``w`` (run index, weight) pairs per pixel.

    Returns:
        ``run_first``, ``run_last``: first and last covering patch of each run, ``(m,)``;
        ``index``, ``weight``: ``(n, w)`` runs read by each pixel and their weights (0
        where a pixel reads fewer than ``w`` runs). Read-only (cached).
    """
    first, last = _covering(n, pad_before, k, patch, stride)
    runs, which = np.unique(first * k + last, return_inverse=True)
    spread = np.zeros((n, runs.size))
    spread[np.arange(n), which.ravel()] = 1.0
    if sigma > 0:
        spread = ndimage.gaussian_filter1d(spread, sigma, axis=0, truncate=truncate,
                                           mode="nearest")
    nonzero = spread != 0
    lo = np.argmax(nonzero, axis=1)
    hi = runs.size - 1 - np.argmax(nonzero[:, ::-1], axis=1)
    offsets = np.arange(int((hi - lo).max()) + 1)
    index = np.minimum(lo[:, None] + offsets, runs.size - 1)
    weight = np.where(lo[:, None] + offsets <= hi[:, None],
                      np.take_along_axis(spread, index, axis=1), 0.0)
    out = (runs // k, runs % k, index, weight)
    for arr in out:
        arr.flags.writeable = False
    return out


def merge_patch_probabilities(patch_prob: ArrayLike, grid: PatchGrid,
                              config: PatchConfig | None = None) -> NDArray[np.float32]:
    """Merge patch probabilities into a smoothed per-pixel map (Anantrasirichai et al. 2019a).

    Args:
        patch_prob: Deformation probability of each patch, ``(n_rows, n_cols)``, with 0 for
            background patches.
        grid: The patch grid the probabilities belong to.
        config: Smoothing settings.

    Returns:
        float32 ``(ny, nx)`` in [0, 1]: the mean over the patches covering each pixel,
        smoothed with a Gaussian (sigma ``smooth_sigma_px``, ``truncate`` as configured,
        nearest-value extension at the borders).

    The mean is constant on blocks of pixels covered by the same patches (28 x 28 blocks
    for the ``"seed"`` grid), and the Gaussian is separable and linear, so the map is computed
    from the block means with the banded per-axis operators of :func:`_merge_axis`: the
    same numbers as the per-pixel mean followed by ``scipy.ndimage.gaussian_filter``, up
    to float64 round-off, about 10 times faster. (No BLAS call: a threaded BLAS would
    leave its threads spinning against the network's.)
    """
    cfg = config or PatchConfig()
    prob = np.asarray(patch_prob, dtype=np.float64)
    if prob.shape != (grid.n_rows, grid.n_cols):
        raise InputError(
            f"patch_prob must have shape ({grid.n_rows}, {grid.n_cols}), got {prob.shape}"
        )
    sigma, truncate = float(cfg.smooth_sigma_px), float(cfg.smooth_truncate)
    r0, r1, row_index, row_weight = _merge_axis(
        grid.ny, grid.pad_top, grid.n_rows, grid.patch_size, grid.stride, sigma, truncate)
    c0, c1, col_index, col_weight = _merge_axis(
        grid.nx, grid.pad_left, grid.n_cols, grid.patch_size, grid.stride, sigma, truncate)
    table = np.zeros((grid.n_rows + 1, grid.n_cols + 1))
    table[1:, 1:] = np.cumsum(np.cumsum(prob, axis=0), axis=1)
    total = (table[np.ix_(r1 + 1, c1 + 1)] - table[np.ix_(r0, c1 + 1)]
             - table[np.ix_(r1 + 1, c0)] + table[np.ix_(r0, c0)])
    blocks = total / np.outer(r1 - r0 + 1, c1 - c0 + 1)
    by_row = np.einsum("is,isb->ib", row_weight, blocks[row_index])  # (ny, column runs)
    merged = by_row[:, col_index[:, 0]] * col_weight[:, 0]
    for s in range(1, col_index.shape[1]):
        merged += by_row[:, col_index[:, s]] * col_weight[:, s]
    out = merged.astype(np.float32)
    return np.clip(out, 0.0, 1.0, out=out)
