"""Interferogram formation, multilooking, coherence and the fitted phase plane.

* The interferogram is ``primary * conj(secondary)`` on the primary's grid, after the
  geometric phase (flat earth, orbits, topography) is taken out at full resolution, so
  that multilooking averages no fringe away.
* Multilooking averages non-overlapping blocks of ``looks = (azimuth, range)`` pixels;
  the multilooked pixel ``(i, j)`` is centred on array line ``(i + 0.5) az - 0.5`` and
  pixel ``(j + 0.5) rg - 0.5``; trailing lines/pixels that do not fill a block are dropped.
* Coherence is the sample estimator over the same blocks,
  ``|sum s1 s2*| / sqrt(sum |s1|^2 sum |s2|^2)`` (e.g. Hanssen 2001, eq. 4.2.17). It is
  biased upwards for few looks and low coherence (for ``N`` independent looks its mean is
  about ``sqrt(pi / 4N)`` when the true coherence is 0; Touzi, R., Lopes, A., Bruniquel,
  J. & Vachon, P. W. (1999), Coherence estimation for SAR imagery, IEEE TGRS 37(1),
  135-149): with 4 x 4 looks a threshold of 0.1 (as for Taal 2020) keeps pure noise at about
  0.22, so raise the looks or the threshold where noise must go.
* :func:`fit_phase_plane` estimates a phase ramp from the data alone, for scenes without
  usable orbits: the peak of the zero-padded 2-D spectrum of the unit-magnitude
  interferogram over coherent pixels (refined by a parabola through the peak), then the
  constant that best aligns the residual. A plane fitted to the whole scene also takes up
  deformation that is planar at the scene's scale.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.fft as sfft
from numpy.typing import NDArray

from monitor.errors import InputError


def check_looks(looks: tuple[int, int], shape: tuple[int, int]) -> tuple[int, int]:
    """Validate ``(azimuth, range)`` looks against an image shape."""
    try:
        az, rg = (int(v) for v in looks)
    except (TypeError, ValueError) as exc:
        raise InputError(f"looks must be two positive integers (azimuth, range), got "
                         f"{looks!r}") from exc
    if az < 1 or rg < 1 or az > shape[0] or rg > shape[1]:
        raise InputError(f"looks must be two positive integers no larger than the image "
                         f"{shape}, got {looks!r}")
    return az, rg


def multilooked_shape(shape: tuple[int, int], looks: tuple[int, int]) -> tuple[int, int]:
    """Shape of the multilooked grid."""
    az, rg = check_looks(looks, shape)
    return shape[0] // az, shape[1] // rg


def multilooked_centres(shape: tuple[int, int], looks: tuple[int, int]
                        ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Array line and pixel coordinates of the multilooked pixels' centres (1-D each)."""
    az, rg = check_looks(looks, shape)
    my, mx = multilooked_shape(shape, looks)
    return ((np.arange(my, dtype=np.float64) + 0.5) * az - 0.5,
            (np.arange(mx, dtype=np.float64) + 0.5) * rg - 0.5)


def multilook(x: NDArray[np.generic], looks: tuple[int, int]) -> NDArray[np.generic]:
    """Block average of ``x`` over ``(azimuth, range)`` looks (trailing rest dropped)."""
    az, rg = check_looks(looks, x.shape[:2])
    my, mx = x.shape[0] // az, x.shape[1] // rg
    return np.asarray(x[:my * az, :mx * rg].reshape(my, az, mx, rg).mean(axis=(1, 3)))


def _interp_rows_cols(values: NDArray[np.float64], rows: NDArray[np.float64],
                      cols: NDArray[np.float64], out_rows: NDArray[np.float64],
                      out_cols: NDArray[np.float64]) -> NDArray[np.float64]:
    """Bilinear interpolation of a rectilinear grid (extrapolated linearly at edges)."""
    def weights(src: NDArray[np.float64], dst: NDArray[np.float64]
                ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        if src.size == 1:
            return np.zeros(dst.size, np.int64), np.zeros(dst.size)
        i = np.clip(np.searchsorted(src, dst) - 1, 0, src.size - 2)
        return i, (dst - src[i]) / (src[i + 1] - src[i])

    ir, fr = weights(rows, out_rows)
    ic, fc = weights(cols, out_cols)
    v = values
    top = v[ir][:, ic] * (1 - fc) + v[ir][:, np.minimum(ic + 1, cols.size - 1)] * fc
    bot_r = np.minimum(ir + 1, rows.size - 1)
    bot = v[bot_r][:, ic] * (1 - fc) + v[bot_r][:, np.minimum(ic + 1, cols.size - 1)] * fc
    return np.asarray(top * (1 - fr)[:, None] + bot * fr[:, None])


def multilooked_interferogram(
    primary: NDArray[np.complexfloating],
    secondary: NDArray[np.complexfloating],
    looks: tuple[int, int],
    *,
    phase_rad: NDArray[np.float64] | None = None,
    phase_rows: NDArray[np.float64] | None = None,
    phase_cols: NDArray[np.float64] | None = None,
    valid: NDArray[np.bool_] | None = None,
    block_blocks: int = 64,
) -> tuple[NDArray[np.complex64], NDArray[np.float32]]:
    """Multilooked interferogram and coherence, a phase screen removed at full resolution.

    Args:
        primary: ``(ny, nx)`` primary SLC.
        secondary: ``(ny, nx)`` secondary resampled onto the primary grid.
        looks: ``(azimuth, range)``.
        phase_rad: Phase to remove (e.g. the geometric phase), radians, on the rectilinear
            grid ``phase_rows x phase_cols`` of array coordinates; interpolated bilinearly
            to every pixel. None: nothing removed.
        phase_rows: 1-D increasing array lines of ``phase_rad``'s rows.
        phase_cols: 1-D increasing array pixels of its columns.
        valid: ``(ny, nx)`` True where the secondary is defined; multilooked pixels with an
            undefined sample get NaN coherence and a zero interferogram.
        block_blocks: Multilooked lines per processing block (bounds the memory).

    Returns:
        ``(ifg, coherence)``: complex64 multilooked interferogram (mean of
        ``s1 s2* exp(-j phase)``) and float32 coherence in [0, 1], both
        ``multilooked_shape``.
    """
    if primary.shape != secondary.shape or primary.ndim != 2:
        raise InputError(f"interferogram: primary {primary.shape} and resampled secondary "
                         f"{secondary.shape} must be the same 2-D shape")
    az, rg = check_looks(looks, primary.shape)
    my, mx = multilooked_shape(primary.shape, looks)
    ifg = np.zeros((my, mx), np.complex64)
    coh = np.zeros((my, mx), np.float32)
    cols = np.arange(mx * rg, dtype=np.float64)
    for i0 in range(0, my, block_blocks):
        i1 = min(my, i0 + block_blocks)
        sl = slice(i0 * az, i1 * az)
        s1 = np.asarray(primary[sl, :mx * rg], np.complex64)
        s2 = np.asarray(secondary[sl, :mx * rg], np.complex64)
        prod = s1 * np.conj(s2)
        if phase_rad is not None:
            if phase_rows is None or phase_cols is None:
                raise InputError("interferogram: phase_rad needs phase_rows and phase_cols")
            rows = np.arange(i0 * az, i1 * az, dtype=np.float64)
            ph = _interp_rows_cols(phase_rad, phase_rows, phase_cols, rows, cols)
            prod *= np.exp(-1j * ph).astype(np.complex64)
        shape4 = (i1 - i0, az, mx, rg)
        num = prod.reshape(shape4).sum(axis=(1, 3))
        p1 = (np.abs(s1) ** 2).reshape(shape4).sum(axis=(1, 3))
        p2 = (np.abs(s2) ** 2).reshape(shape4).sum(axis=(1, 3))
        den = np.sqrt(p1 * p2)
        with np.errstate(invalid="ignore", divide="ignore"):
            c = np.where(den > 0, np.abs(num) / den, np.nan)
        if valid is not None:
            full = valid[sl, :mx * rg].reshape(shape4).all(axis=(1, 3))
            c = np.where(full, c, np.nan)
            num = np.where(full, num, 0)
        ifg[i0:i1] = num / (az * rg)
        coh[i0:i1] = np.clip(c, 0.0, 1.0)
    return ifg, coh


def fit_phase_plane(ifg: NDArray[np.complexfloating], coherence: NDArray[np.floating],
                    threshold: float = 0.3, pad: int = 4) -> NDArray[np.float64]:
    """Phase plane ``a + b i + c j`` that best explains a wrapped interferogram.

    Args:
        ifg: ``(my, mx)`` complex interferogram.
        coherence: ``(my, mx)`` coherence; pixels at or below ``threshold`` (or NaN) are
            left out.
        threshold: Coherence threshold.
        pad: Zero-padding factor of the spectrum.

    Returns:
        ``(my, mx)`` plane, radians (unwrapped).

    Raises:
        InputError: no pixel is coherent.
    """
    use = np.isfinite(coherence) & (coherence > threshold) & (np.abs(ifg) > 0)
    if not use.any():
        raise InputError(f"plane fit: no pixel has coherence above {threshold}")
    z = np.where(use, ifg / np.where(use, np.abs(ifg), 1.0), 0).astype(np.complex128)
    my, mx = z.shape
    ny, nx = pad * my, pad * mx
    power = np.abs(sfft.fft2(z, s=(ny, nx))) ** 2
    k = np.unravel_index(int(np.argmax(power)), power.shape)

    def refine(axis_len: int, i: int, line: NDArray[np.float64]) -> float:
        a, b, c = line[(i - 1) % axis_len], line[i], line[(i + 1) % axis_len]
        den = a - 2 * b + c
        d = 0.5 * (a - c) / den if den != 0 else 0.0
        f = (i + d) / axis_len
        return f - 1.0 if f >= 0.5 else f

    fy = refine(ny, int(k[0]), power[:, k[1]])
    fx = refine(nx, int(k[1]), power[k[0], :])
    ii, jj = np.meshgrid(np.arange(my), np.arange(mx), indexing="ij")
    ramp = 2 * math.pi * (fy * ii + fx * jj)
    const = float(np.angle(np.sum(z * np.exp(-1j * ramp))))
    return np.asarray(ramp + const)
