"""Sub-pixel coregistration of a secondary SLC onto the primary's grid.

1. :func:`measure_offsets`: amplitude cross-correlation on a grid of windows. Each
   complex window is oversampled by 2 (Fourier zero-padding) before detection, since the
   amplitude of a band-limited signal holds twice its bandwidth and would alias
   otherwise (the practice of ROI_PAC/ISCE ``ampcor``); the shift is the peak of the
   upsampled cross-power spectrum (Guizar-Sicairos, M., Thurman, S. T. & Fienup, J. R.
   (2008), Efficient subpixel image registration algorithms, Opt. Lett. 33(2), 156-158,
   as :func:`skimage.registration.phase_cross_correlation`). Windows are placed around
   the offset the orbits predict, when given.
2. :func:`fit_offsets`: outliers rejected (windows whose amplitude correlation is low, then
   iteratively those beyond 3 robust standard deviations of the fit) and a polynomial of
   low degree fitted to the azimuth and range offsets as functions of line and pixel
   (:class:`OffsetModel`).
3. :func:`resample`: the secondary interpolated onto the primary's grid with a
   separable 8-tap Knab-windowed sinc kernel (Knab, J. J. (1979), Interpolation of
   band-limited functions using the approximate prolate series, IEEE Trans. Inf. Theory
   25(6), 717-720; proposed for SAR registration by Migliaccio, M. & Bruno, F. (2003), A
   new interpolation kernel for SAR interferometric registration, IEEE TGRS 41(5),
   1105-1110): range first, then azimuth. The kernel assumes a zero Doppler centroid
   (ALOS-2 stripmap is yaw-steered); a squinted scene would need its azimuth spectrum
   deramped first.

Offsets are in pixels of the arrays handed in: primary ``(l, p)`` is secondary
``(l + d_line, p + d_pixel)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.fft as sfft
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage
from skimage.registration import phase_cross_correlation

from monitor.errors import InputError

#: Taps of the resampling kernel.
KERNEL_TAPS = 8
#: Kernel lookup table resolution (fractions of a pixel).
_KERNEL_STEPS = 1024


@dataclass(frozen=True)
class OffsetField:
    """Offsets measured on a grid of windows.

    Attributes:
        line: ``(n,)`` primary line of each window centre.
        pixel: ``(n,)`` primary pixel of each window centre.
        d_line: ``(n,)`` azimuth offsets, pixels (NaN where the window failed).
        d_pixel: ``(n,)`` range offsets, pixels.
        correlation: ``(n,)`` correlation coefficient of the amplitudes at the offset found
            (about the coherence squared; near 0 for no match).
    """

    line: NDArray[np.float64]
    pixel: NDArray[np.float64]
    d_line: NDArray[np.float64]
    d_pixel: NDArray[np.float64]
    correlation: NDArray[np.float64]


@dataclass(frozen=True)
class OffsetModel:
    """Polynomial offsets ``d = sum_ij c[i, j] x**i y**j`` with normalised coordinates
    ``x = (line - line_centre) / scale``, ``y = (pixel - pixel_centre) / scale``.

    Attributes:
        degree: Polynomial degree (0: constant, 1: affine, 2: quadratic).
        line_coeffs: ``(degree + 1, degree + 1)`` coefficients of the azimuth offset.
        pixel_coeffs: Coefficients of the range offset.
        centre: ``(line_centre, pixel_centre)``.
        scale: Normalisation, pixels.
        n_windows: Windows measured.
        n_used: Windows kept after outlier rejection.
        residual_rms_px: ``(azimuth, range)`` RMS of the kept windows about the fit.
    """

    degree: int
    line_coeffs: NDArray[np.float64]
    pixel_coeffs: NDArray[np.float64]
    centre: tuple[float, float]
    scale: float
    n_windows: int = 0
    n_used: int = 0
    residual_rms_px: tuple[float, float] = (math.nan, math.nan)

    def __call__(self, line: ArrayLike, pixel: ArrayLike
                 ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Offsets ``(d_line, d_pixel)`` at primary ``(line, pixel)``."""
        x = (np.asarray(line, dtype=np.float64) - self.centre[0]) / self.scale
        y = (np.asarray(pixel, dtype=np.float64) - self.centre[1]) / self.scale
        pv = np.polynomial.polynomial.polyval2d
        return np.asarray(pv(x, y, self.line_coeffs)), np.asarray(pv(x, y, self.pixel_coeffs))

    @classmethod
    def constant(cls, d_line: float, d_pixel: float) -> OffsetModel:
        """A constant offset."""
        return cls(0, np.array([[d_line]]), np.array([[d_pixel]]), (0.0, 0.0), 1.0)

    def summary(self) -> dict[str, object]:
        """A JSON-ready record (for provenance)."""
        return {"degree": self.degree, "line_coeffs": self.line_coeffs.tolist(),
                "pixel_coeffs": self.pixel_coeffs.tolist(), "centre": list(self.centre),
                "scale": self.scale, "n_windows": self.n_windows, "n_used": self.n_used,
                "residual_rms_px": list(self.residual_rms_px)}


def _oversampled_amplitude(w: NDArray[np.complex64], factor: int) -> NDArray[np.float64]:
    """Amplitude of a complex window oversampled by ``factor`` (Fourier zero-padding)."""
    if factor == 1:
        amp1 = np.abs(w).astype(np.float64)
        return np.asarray(amp1 - amp1.mean())
    ny, nx = w.shape
    spec = sfft.fftshift(sfft.fft2(w))
    pad = np.zeros((factor * ny, factor * nx), np.complex128)
    pad[ny // 2: ny // 2 + ny, nx // 2: nx // 2 + nx] = spec
    amp = np.abs(sfft.ifft2(sfft.ifftshift(pad)))
    return np.asarray(amp - amp.mean())


def _correlation(a: NDArray[np.float64], b: NDArray[np.float64],
                 shift: NDArray[np.float64]) -> float:
    """Correlation coefficient of ``a`` and ``b`` moved by ``shift`` (Fourier shift)."""
    b_moved = sfft.ifft2(ndimage.fourier_shift(sfft.fft2(b), shift)).real
    den = math.sqrt(float(np.sum(a * a)) * float(np.sum(b_moved * b_moved)))
    return float(np.sum(a * b_moved)) / den if den > 0 else 0.0


def measure_offsets(primary: NDArray[np.complexfloating], secondary: NDArray[np.complexfloating],
                    *, window: int = 64, n_windows: tuple[int, int] = (8, 8),
                    upsample: int = 32, oversample: int = 2,
                    predicted: OffsetModel | None = None) -> OffsetField:
    """Measure azimuth and range offsets by amplitude cross-correlation on a window grid.

    Args:
        primary: ``(ny, nx)`` primary SLC.
        secondary: ``(ny2, nx2)`` secondary SLC.
        window: Window size, pixels (>= 16).
        n_windows: Windows along azimuth and range (a regular grid over the primary).
        upsample: Upsampling factor of the correlation peak (precision
            ``1 / (oversample upsample)`` pixel).
        oversample: Oversampling of the complex windows before detection (1 or 2).
        predicted: Offsets the orbits predict; each window of the secondary is cut around
            its whole-pixel prediction (None: no shift).

    Returns:
        The :class:`OffsetField`; windows that fall outside the secondary are NaN.
    """
    if primary.ndim != 2 or secondary.ndim != 2:
        raise InputError(f"measure_offsets: images must be 2-D, got {primary.shape} and "
                         f"{secondary.shape}")
    if oversample not in (1, 2):
        raise InputError(f"measure_offsets: oversample must be 1 or 2, got {oversample!r}")
    ny, nx = primary.shape
    if window < 16 or window > min(ny, nx):
        raise InputError(f"measure_offsets: window must lie in [16, {min(ny, nx)}] pixels for "
                         f"a {ny} x {nx} primary, got {window}")
    half = window // 2
    lines = np.linspace(half, ny - half, n_windows[0]) if n_windows[0] > 1 else \
        np.array([ny / 2.0])
    pixels = np.linspace(half, nx - half, n_windows[1]) if n_windows[1] > 1 else \
        np.array([nx / 2.0])
    lg2, pg2 = np.meshgrid(np.round(lines), np.round(pixels), indexing="ij")
    lg, pg = lg2.ravel(), pg2.ravel()
    out = np.full((3, lg.size), np.nan)
    ny2, nx2 = secondary.shape
    for k, (lc, pc) in enumerate(zip(lg, pg, strict=True)):
        if predicted is not None:
            pl, pp = predicted(lc, pc)
            sl, sp = int(round(float(pl))), int(round(float(pp)))
        else:
            sl = sp = 0
        l0, p0 = int(lc) - half, int(pc) - half
        if l0 + sl < 0 or p0 + sp < 0 or l0 + sl + window > ny2 or p0 + sp + window > nx2:
            continue
        a = _oversampled_amplitude(primary[l0:l0 + window, p0:p0 + window], oversample)
        b = _oversampled_amplitude(secondary[l0 + sl:l0 + sl + window,
                                             p0 + sp:p0 + sp + window], oversample)
        if not (np.any(a) and np.any(b)):
            continue
        shift, _, _ = phase_cross_correlation(a, b, upsample_factor=upsample,
                                              normalization=None)
        out[0, k] = sl - shift[0] / oversample
        out[1, k] = sp - shift[1] / oversample
        out[2, k] = _correlation(a, b, shift)
    return OffsetField(lg + 0.0 - 0.5 * (window % 2 == 0), pg + 0.0 - 0.5 * (window % 2 == 0),
                       out[0], out[1], out[2])


def fit_offsets(field: OffsetField, shape: tuple[int, int], *, degree: int = 1,
                min_correlation: float = 0.15, n_sigma: float = 3.0) -> OffsetModel:
    """Fit a polynomial offset model, rejecting outliers.

    Windows with an amplitude correlation below ``min_correlation`` (random windows of 64
    x 64 pixels reach about 0.1) or a NaN offset are dropped; then
    the fit is repeated, dropping windows further than ``n_sigma`` robust standard
    deviations (1.4826 x the median absolute residual) from it, until none is dropped.

    Args:
        field: Measured offsets.
        shape: ``(ny, nx)`` of the primary (sets the normalisation).
        degree: Polynomial degree, 0 to 3 (lowered when too few windows remain).
        min_correlation: Smallest accepted amplitude correlation (0..1).
        n_sigma: Rejection threshold in robust standard deviations.

    Returns:
        The :class:`OffsetModel`.

    Raises:
        InputError: fewer than 3 windows matched (no common ground, or scenes that do not
            overlap).
    """
    if not 0 <= degree <= 3:
        raise InputError(f"fit_offsets: degree must lie in 0..3, got {degree}")
    ok = np.isfinite(field.d_line) & np.isfinite(field.d_pixel) & \
        (field.correlation >= min_correlation)
    n_total = int(field.line.size)
    if ok.sum() < 3:
        raise InputError(f"coregistration: only {int(ok.sum())} of {n_total} correlation "
                         f"windows matched (correlation >= {min_correlation}); the scenes do "
                         "not overlap or are incoherent: check the pair (dates, path, "
                         "frame) and the crop")
    centre = ((shape[0] - 1) / 2.0, (shape[1] - 1) / 2.0)
    scale = float(max(shape))
    x = (field.line - centre[0]) / scale
    y = (field.pixel - centre[1]) / scale
    while True:
        deg = degree
        while deg > 0 and ok.sum() < 2 * (deg + 1) ** 2:
            deg -= 1
        a = np.polynomial.polynomial.polyvander2d(x, y, [deg, deg])
        cl, *_ = np.linalg.lstsq(a[ok], field.d_line[ok], rcond=None)
        cp, *_ = np.linalg.lstsq(a[ok], field.d_pixel[ok], rcond=None)
        rl = field.d_line - a @ cl
        rp = field.d_pixel - a @ cp
        r = np.hypot(rl, rp)
        sigma = max(1.4826 * float(np.median(r[ok])), 1e-3)
        bad = ok & (r > n_sigma * sigma)
        if not bad.any() or ok.sum() - bad.sum() < 3:
            break
        ok &= ~bad
    k = deg + 1
    return OffsetModel(deg, np.asarray(cl, np.float64).reshape(k, k),
                       np.asarray(cp, np.float64).reshape(k, k), centre, scale, n_total,
                       int(ok.sum()), (float(np.sqrt(np.mean(rl[ok] ** 2))),
                                       float(np.sqrt(np.mean(rp[ok] ** 2)))))


def knab_kernel(x: ArrayLike, taps: int = KERNEL_TAPS,
                bandwidth_fraction: float = 0.8) -> NDArray[np.float64]:
    """Knab-windowed sinc: ``sinc(x) cosh(pi v L/2 sqrt(1 - (2x/L)^2)) / cosh(pi v L/2)``.

    Args:
        x: Distances from the interpolated point, samples.
        taps: Kernel length ``L``, samples.
        bandwidth_fraction: Signal bandwidth over sampling rate; ``v = 1 - fraction``.

    Returns:
        Kernel weights (0 beyond ``|x| >= L/2``).
    """
    xx = np.asarray(x, dtype=np.float64)
    v = 1.0 - bandwidth_fraction
    arg = np.clip(1.0 - (2.0 * xx / taps) ** 2, 0.0, None)
    w = np.cosh(math.pi * v * taps / 2.0 * np.sqrt(arg)) / math.cosh(math.pi * v * taps / 2.0)
    return np.where(np.abs(xx) < taps / 2.0, np.sinc(xx) * w, 0.0)


def _kernel_table(bandwidth_fraction: float) -> NDArray[np.float32]:
    """Weights ``(steps + 1, taps)`` for fractional positions ``0 .. 1``, each row summing
    to 1 (unit gain at zero frequency)."""
    frac = np.linspace(0.0, 1.0, _KERNEL_STEPS + 1)[:, None]
    offs = np.arange(KERNEL_TAPS)[None, :] - (KERNEL_TAPS // 2 - 1)
    w = knab_kernel(offs - frac, KERNEL_TAPS, bandwidth_fraction)
    return (w / w.sum(axis=1, keepdims=True)).astype(np.float32)


def _resample_axis1(img: NDArray[np.complex64], pos: NDArray[np.float64],
                    table: NDArray[np.float32]) -> tuple[NDArray[np.complex64],
                                                         NDArray[np.bool_]]:
    """Interpolate each row of ``img`` at the positions ``pos`` (same number of rows)."""
    n = img.shape[1]
    base = np.floor(pos).astype(np.int64)
    frac_idx = np.rint((pos - base) * _KERNEL_STEPS).astype(np.int64)
    w = table[frac_idx]  # (rows, cols, taps)
    out = np.zeros(pos.shape, np.complex64)
    rows = np.arange(pos.shape[0])[:, None]
    for k in range(KERNEL_TAPS):
        idx = base + (k - (KERNEL_TAPS // 2 - 1))
        inside = (idx >= 0) & (idx < n)
        vals = img[rows, np.clip(idx, 0, n - 1)]
        out += np.where(inside, vals * w[..., k], 0)
    valid = (base >= 0) & (base + 1 < n)
    return out, valid


def resample(secondary: NDArray[np.complexfloating], model: OffsetModel,
             shape: tuple[int, int], *, bandwidth_fraction: float = 0.8,
             block_lines: int = 256) -> tuple[NDArray[np.complex64], NDArray[np.bool_]]:
    """Resample the secondary onto the primary grid through the offset model.

    Separable: every needed secondary line is interpolated in range at the positions
    ``p + d_pixel`` (evaluated on that line), then every output column in azimuth at
    ``l + d_line``; the cross-term this neglects is ``d(d_pixel)/d(line) * d_line``, a
    millionth of a pixel for orbit-driven offsets.

    Args:
        secondary: ``(ny2, nx2)`` secondary SLC.
        model: Offsets (primary -> secondary).
        shape: ``(ny, nx)`` of the primary grid.
        bandwidth_fraction: Signal bandwidth over sampling rate (sets the Knab window).
        block_lines: Output lines per block (bounds the memory).

    Returns:
        ``(resampled, valid)``: ``(ny, nx)`` complex64 and a mask of the pixels whose
        kernel centre fell inside the secondary (zeros elsewhere).
    """
    ny, nx = shape
    ny2 = secondary.shape[0]
    table = _kernel_table(bandwidth_fraction)
    half = KERNEL_TAPS // 2
    out = np.zeros((ny, nx), np.complex64)
    valid = np.zeros((ny, nx), bool)
    cols = np.arange(nx, dtype=np.float64)
    for b0 in range(0, ny, block_lines):
        b1 = min(ny, b0 + block_lines)
        lines = np.arange(b0, b1, dtype=np.float64)
        ll, pp = np.meshgrid(lines, cols, indexing="ij")
        d_line, _ = model(ll, pp)
        pos_l = ll + d_line
        lo = int(math.floor(np.nanmin(pos_l))) - half
        hi = int(math.floor(np.nanmax(pos_l))) + half + 1
        src_lines = np.arange(max(lo, 0), min(hi, ny2 - 1) + 1)
        if src_lines.size == 0:
            continue
        # range pass on the secondary lines this block needs
        sl, sp = np.meshgrid(src_lines.astype(np.float64), cols, indexing="ij")
        _, d_pix = model(sl - np.median(d_line), sp)
        rng_pass, rng_ok = _resample_axis1(np.asarray(secondary[src_lines], np.complex64),
                                           sp + d_pix, table)
        # azimuth pass: interpolate columns of the range-resampled lines
        pos_rel = pos_l - src_lines[0]
        az, az_ok = _resample_axis1(np.ascontiguousarray(rng_pass.T), pos_rel.T, table)
        ok_rng = np.ascontiguousarray(rng_ok.T)
        base = np.clip(np.floor(pos_rel.T).astype(np.int64), 0, src_lines.size - 1)
        ok = az_ok & np.take_along_axis(ok_rng, base, axis=1)
        inside = (pos_l.T >= 0) & (ny2 - 1 >= pos_l.T)
        out[b0:b1] = az.T
        valid[b0:b1] = (ok & inside).T
    out[~valid] = 0
    return out, valid
