"""Single-band raster reading and writing (GeoTIFF through rasterio, and ``.npy``).

Readers return a :class:`Raster`: float32 data of shape ``(ny, nx)`` with NaN wherever the
file marks nodata, plus the georeference (CRS and affine transform) when the file has one.
They refuse, with a :class:`~monitor.errors.RasterError` naming the file, anything that is
not a raster, has more or fewer than one band, is absurdly large (``max_pixels``, default
50 million, configurable as ``rasters.max_pixels``; with ``max_bytes``, also the memory
the watch would need for it, judged from the header before any pixel is decompressed:
:mod:`monitor.io.raster_header`), holds complex values, or holds no finite value at all.

A GeoTIFF can be read through a window (:class:`~monitor.science.crop.PixelWindow`, the
crop of a target): only the window's pixels are decoded (rasterio ``window=``), the
memory budget is judged on the window, and the transform returned is the window's.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from numpy.typing import ArrayLike, NDArray
from rasterio.errors import NotGeoreferencedWarning, RasterioError
from rasterio.transform import Affine
from rasterio.windows import Window

from monitor.errors import RasterError
from monitor.io.raster_header import (
    UNREADABLE_RASTER,
    RasterHeader,
    check_budget,
    dtype_kind,
)
from monitor.science.crop import PixelWindow

DEFAULT_MAX_PIXELS = 50_000_000
_NPY_SUFFIXES = {".npy"}
_TIFF_SUFFIXES = {".tif", ".tiff", ".gtiff"}


@dataclass(frozen=True)
class Raster:
    """A single-band raster in memory.

    Attributes:
        data: Values, float32, shape ``(ny, nx)``; NaN where the file had nodata.
        crs: CRS as a string (``"EPSG:4326"``), or None when the file has none.
        transform: Affine pixel-to-map transform (pixel corner convention), or None.
        path: Where it was read from, for messages and provenance.
        source_dtype: The data type on disk (``"uint8"``, ``"float32"``...).
    """

    data: NDArray[np.float32]
    crs: str | None = None
    transform: Affine | None = None
    path: str | None = None
    source_dtype: str | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.data.shape[0]), int(self.data.shape[1]))

    @property
    def georeferenced(self) -> bool:
        return self.crs is not None and self.transform is not None

    def lonlat(self, row: float, col: float) -> tuple[float, float]:
        """Map coordinates (lon, lat for EPSG:4326) of the centre of pixel (row, col)."""
        if self.transform is None:
            raise RasterError(f"{self.path or 'raster'} has no georeference; no lon/lat")
        x, y = self.transform @ (col + 0.5, row + 0.5)
        return float(x), float(y)


def _check_size(path: str, ny: int, nx: int, max_pixels: int) -> None:
    if ny < 1 or nx < 1:
        raise RasterError(f"{path}: raster has an empty shape ({ny} x {nx})")
    if ny * nx > max_pixels:
        raise RasterError(
            f"{path}: raster is {ny} x {nx} = {ny * nx:,} pixels, above the limit of "
            f"{max_pixels:,} (rasters.max_pixels); crop it or raise the limit"
        )


def _finalise(path: str, arr: NDArray[np.float32], require_finite: bool) -> NDArray[np.float32]:
    if require_finite and not np.isfinite(arr).any():
        raise RasterError(f"{path}: raster holds no finite value (all nodata or NaN)")
    return arr


def read_raster(
    path: str | os.PathLike[str],
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    zero_is_nodata: bool = False,
    require_finite: bool = True,
    max_bytes: int | None = None,
    window: PixelWindow | None = None,
) -> Raster:
    """Read a single-band GeoTIFF or ``.npy`` file, whole or a window of it.

    Args:
        path: ``.tif``/``.tiff`` (any GDAL-readable raster also works) or ``.npy`` (2-D).
        max_pixels: Refuse rasters with more pixels than this.
        zero_is_nodata: Also treat exact zeros as nodata (LiCSAR ``.unw`` products mark
            nodata with 0 as well as NaN).
        require_finite: Refuse rasters without a single finite value.
        max_bytes: Refuse, from the header, rasters the watch could not process within
            this many bytes (:func:`monitor.io.raster_header.check_budget`); None: no
            budget. With ``window``, judged on the window's pixels.
        window: Read only these pixels (GeoTIFF: a windowed read, nothing else decoded;
            ``.npy``: a slice of the memory map); the transform is the window's.
            ``max_pixels`` still bounds the whole file.

    Returns:
        The raster, float32 ``(ny, nx)`` (the window's shape) with NaN as nodata.

    Raises:
        RasterError: the file is missing, is not a raster, has a band count other than 1,
            is too large, holds complex values, holds no finite value, or does not hold
            the whole window.
    """
    p = Path(path)
    name = str(p)
    if not p.exists():
        raise RasterError(f"{name}: no such file")
    if p.is_dir():
        raise RasterError(f"{name}: is a directory, not a raster file")
    if p.suffix.lower() in _NPY_SUFFIXES:
        return _read_npy(p, max_pixels, zero_is_nodata, require_finite, window)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(p) as src:
                if src.count != 1:
                    raise RasterError(
                        f"{name}: expected a single-band raster, found {src.count} bands"
                    )
                _check_size(name, src.height, src.width, max_pixels)
                source_dtype = str(src.dtypes[0])
                if dtype_kind(source_dtype) == "c":
                    raise RasterError(f"{name}: complex data ({source_dtype}); expected "
                                      "real values")
                _check_window(name, (src.height, src.width), window)
                if max_bytes is not None:
                    width, height = (src.width, src.height) if window is None \
                        else (window.cols, window.rows)
                    check_budget(RasterHeader(name, width, height, src.count,
                                              source_dtype, None, None), max_bytes)
                rio_window = None if window is None else Window(
                    window.col0, window.row0, window.cols, window.rows)
                raw = src.read(1, masked=True, window=rio_window)
                crs = src.crs.to_string() if src.crs else None
                transform = None if src.transform == Affine.identity() else (
                    src.transform if rio_window is None
                    else src.window_transform(rio_window))
    except RasterError:
        raise
    except UNREADABLE_RASTER as exc:
        raise RasterError(f"{name}: not a readable raster ({exc})") from None
    arr = np.array(raw.data, dtype=np.float32)
    arr[np.ma.getmaskarray(raw)] = np.nan
    if zero_is_nodata:
        arr[arr == 0] = np.nan
    return Raster(_finalise(name, arr, require_finite), crs, transform, name, source_dtype)


def _check_window(name: str, shape: tuple[int, int], window: PixelWindow | None) -> None:
    if window is not None and not window.fits(shape):
        raise RasterError(f"{name}: raster is {shape[0]} x {shape[1]} pixels and does not "
                          f"hold the window rows {window.row0}-{window.row0 + window.rows - 1}"
                          f", cols {window.col0}-{window.col0 + window.cols - 1}")


def _read_npy(p: Path, max_pixels: int, zero_is_nodata: bool, require_finite: bool,
              window: PixelWindow | None = None) -> Raster:
    name = str(p)
    try:
        arr = np.load(p, mmap_mode="r", allow_pickle=False)
    # numpy parses the header of an untrusted file with tokenize and ast and maps its
    # declared size: a hostile file raises far more than ValueError/OSError (EOFError on an
    # empty file, OverflowError on a huge shape, tokenize.TokenError on a torn header: the
    # fault suite's fuzzing found each). Whatever it raises, the file is not a raster.
    except Exception as exc:
        raise RasterError(f"{name}: not a readable .npy array ({exc})") from None
    if arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 2:
        raise RasterError(
            f"{name}: expected a single-band 2-D array, found shape {tuple(arr.shape)}"
        )
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise RasterError(f"{name}: expected a real numeric array, found dtype {arr.dtype}")
    _check_size(name, int(arr.shape[0]), int(arr.shape[1]), max_pixels)
    _check_window(name, (int(arr.shape[0]), int(arr.shape[1])), window)
    if window is not None:
        arr = arr[window.row0: window.row0 + window.rows, window.col0: window.col0 + window.cols]
    out = np.array(arr, dtype=np.float32)
    if zero_is_nodata:
        out[out == 0] = np.nan
    return Raster(_finalise(name, out, require_finite), None, None, name, str(arr.dtype))


def write_raster(
    path: str | os.PathLike[str],
    data: ArrayLike,
    *,
    crs: str | None = None,
    transform: Affine | None = None,
    dtype: str = "float32",
    nodata: float | None = None,
    compress: str | None = "deflate",
) -> Path:
    """Write a single-band GeoTIFF or ``.npy`` (chosen by suffix).

    Float GeoTIFFs store NaN as their nodata value; integer ones store ``nodata`` (NaN
    input pixels become ``nodata``, which must then be given).

    Args:
        path: Output file, ``.tif``/``.tiff`` or ``.npy``.
        data: 2-D array ``(ny, nx)``.
        crs: CRS string such as ``"EPSG:4326"`` (GeoTIFF only).
        transform: Affine transform (GeoTIFF only).
        dtype: Output dtype (``"float32"``, ``"uint8"``, ``"int16"``...).
        nodata: Nodata value; defaults to NaN for float types.
        compress: GeoTIFF compression, or None.

    Returns:
        The path written.
    """
    p = Path(path)
    arr = np.asarray(data)
    if arr.ndim != 2:
        raise RasterError(f"{p}: can only write 2-D single-band data, got shape {arr.shape}")
    np_dtype = np.dtype(dtype)
    is_float = np.issubdtype(np_dtype, np.floating)
    if not is_float:
        nan_mask = np.isnan(arr) if np.issubdtype(arr.dtype, np.floating) else None
        if nan_mask is not None and nan_mask.any():
            if nodata is None:
                raise RasterError(f"{p}: NaN pixels need a nodata value for dtype {dtype}")
            arr = np.where(nan_mask, nodata, arr)
    out = arr.astype(np_dtype)
    p.parent.mkdir(parents=True, exist_ok=True)
    if p.suffix.lower() in _NPY_SUFFIXES:
        np.save(p, out)
        return p
    if p.suffix.lower() not in _TIFF_SUFFIXES:
        raise RasterError(f"{p}: unknown raster suffix; use .tif or .npy")
    profile: dict[str, object] = {
        "driver": "GTiff", "height": out.shape[0], "width": out.shape[1], "count": 1,
        "dtype": np_dtype.name, "crs": crs, "transform": transform or Affine.identity(),
        "nodata": (float("nan") if is_float else None) if nodata is None else nodata,
    }
    if compress:
        profile["compress"] = compress
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(p, "w", **profile) as dst:
                dst.write(out, 1)
    except (RasterioError, OSError) as exc:
        raise RasterError(f"{p}: cannot write raster ({exc})") from None
    return p
