"""What a raster file claims to be, read from its header before a single pixel.

A GeoTIFF's header states its width, height, band count, data type and georeference;
its pixels may be a few kilobytes of deflate that expand to gigabytes (a decompression
bomb: 1 MB on disk claiming 7000 x 7000 float32 pixels). :func:`read_header` opens the
file without reading pixels, and :func:`check_budget` refuses a raster whose processing
would exceed a memory budget, from the header alone, in milliseconds.

The budget counts what the watch allocates per product, not only the raster itself:
:data:`PIPELINE_COPIES` float32-sized images per pixel (decoding, masking, the coherence
map, the float64 cumulative image and its increment, the CNN's wrapped inputs and
probability maps at every gain, the fused map, the LSTT windows and the second look).
It was measured: the poll reported in "Step 10" took a 7000 x 7000 product to 9.4 GB,
about 190 bytes per pixel; a poll of a 1024 x 1024 synthetic frame peaks 330 MiB above
the interpreter with the model loaded, about 250 bytes per pixel once the CNN's fixed
cost (85 MiB, measured at 256 x 256) is set aside. 64 float32 copies is 256 bytes per
pixel.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from rasterio.errors import NotGeoreferencedWarning, RasterioError
from rasterio.transform import Affine

from monitor.errors import RasterError

#: What opening and reading a file with rasterio raises when the file is not a readable
#: raster: GDAL's errors, the operating system's, and UnicodeError for geokeys or tags
#: whose text is not UTF-8 (rasterio decodes them; found by ``bench/fuzz_atheris.py``).
UNREADABLE_RASTER = (RasterioError, OSError, UnicodeError)

#: float32-sized images the watch holds per pixel of a product (module docstring).
PIPELINE_COPIES = 64
#: Bytes of one pipeline image per pixel: the watch works in float32 (or wider) whatever
#: the file's data type (a uint8 coherence map becomes float32 on reading).
MIN_ITEMSIZE = 4
#: Default memory budget of one product, bytes (``[rasters] max_bytes``): 2 GiB lets a
#: whole LiCSAR frame (about 3000 x 2500 pixels at 0.001 degree, 1.8 GiB by the count
#: above) through and refuses the 7000 x 7000 bomb (11.7 GiB) from its header.
DEFAULT_MAX_BYTES = 2 * 1024**3


@dataclass(frozen=True)
class RasterHeader:
    """A raster's header (no pixels read).

    Attributes:
        path: The file, for messages.
        width: Columns.
        height: Rows.
        count: Bands.
        dtype: Data type of the first band (``"float32"``, ``"uint8"``, ``"complex64"``...).
        crs: CRS string (``"EPSG:4326"``), or None.
        transform: Affine pixel-to-map transform, or None when the file has none.
    """

    path: str
    width: int
    height: int
    count: int
    dtype: str
    crs: str | None
    transform: Affine | None

    @property
    def shape(self) -> tuple[int, int]:
        return (self.height, self.width)

    @property
    def pipeline_bytes(self) -> int:
        """Bytes the watch would allocate for this raster (module docstring)."""
        itemsize = max(_itemsize(self.dtype), MIN_ITEMSIZE)
        return self.width * self.height * itemsize * PIPELINE_COPIES


def _numpy_dtype(dtype: str) -> np.dtype[np.generic] | None:
    """The numpy type of a GDAL data type name, None for those numpy lacks
    (``complex_int16``)."""
    try:
        return np.dtype(dtype)
    except TypeError:
        return None


def _itemsize(dtype: str) -> int:
    nd = _numpy_dtype(dtype)
    return 8 if nd is None else nd.itemsize


def dtype_kind(dtype: str) -> str:
    """numpy's kind letter of a GDAL data type name: ``f`` float, ``i``/``u`` integer,
    ``c`` complex (``complex_int16`` included), ``V`` anything else."""
    if "complex" in dtype:
        return "c"
    nd = _numpy_dtype(dtype)
    return "V" if nd is None else nd.kind


def read_header(path: str | Path) -> RasterHeader:
    """Open a raster and read its header only.

    Raises:
        RasterError: missing file, or not a raster GDAL can open (truncated, corrupt).
    """
    p = Path(path)
    if not p.is_file():
        raise RasterError(f"{p}: no such file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(p) as src:
                transform = None if src.transform == Affine.identity() else src.transform
                return RasterHeader(str(p), int(src.width), int(src.height), int(src.count),
                                    str(src.dtypes[0]) if src.count else "none",
                                    src.crs.to_string() if src.crs else None, transform)
    except UNREADABLE_RASTER as exc:
        raise RasterError(f"{p}: not a readable raster ({exc})") from None


def check_budget(header: RasterHeader, max_bytes: int) -> None:
    """Refuse a raster whose processing would exceed ``max_bytes``.

    Raises:
        RasterError: naming the file, its size, the estimate and the setting.
    """
    need = header.pipeline_bytes
    if need > max_bytes:
        raise RasterError(
            f"{header.path}: {header.height} x {header.width} {header.dtype} pixels would "
            f"need about {need / 2**20:,.0f} MiB to process ({PIPELINE_COPIES} float32 "
            f"images per pixel), above the budget of {max_bytes / 2**20:,.0f} MiB "
            "(rasters.max_bytes); refused before reading its pixels")


def check_real_dtype(header: RasterHeader, *, floating: bool) -> None:
    """Refuse complex data, and with ``floating`` any non-float data type.

    Raises:
        RasterError: naming the file and the data type found.
    """
    kind = dtype_kind(header.dtype)
    if kind == "c":
        raise RasterError(f"{header.path}: complex data ({header.dtype}); expected real "
                          "values (an unwrapped phase or a coherence, not a wrapped "
                          "complex interferogram)")
    if floating and kind != "f":
        raise RasterError(f"{header.path}: expected a float raster, found {header.dtype}")
    if kind not in "fiu":
        raise RasterError(f"{header.path}: data type {header.dtype} is not numeric")
