"""The LiCSAR product layout on disk: names, encodings and metadata.

A LiCSAR frame directory looks like the portal's (COMET LiCSAR products)::

    <frame>/interferograms/<d1>_<d2>/<d1>_<d2>.geo.unw.tif   float32, radians, 0 or NaN = nodata
    <frame>/interferograms/<d1>_<d2>/<d1>_<d2>.geo.cc.tif    uint8 coherence 0-255 (0 = nodata)
    <frame>/metadata/<frame>.geo.hgt.tif                      DEM heights, metres
    <frame>/metadata/<frame>.geo.{E,N,U}.tif                  LOS unit vector components
    <frame>/metadata/metadata.txt                             key=value lines
    <frame>/metadata/baselines                                "ref date bperp_m btemp_days" lines
    <frame>/epochs/<d>/<d>.sltd.geo.tif                       GACOS total delay, metres
    <frame>/epochs/<d>/<d>.icams.sltd.geo.tif                 ICAMS (ERA5) total delay, metres

All rasters are EPSG:4326 at 0.001 degree posting. Dates are ``YYYYMMDD``. Frame ids look
like ``022D_04826_121209``: three-digit track, A(scending) or D(escending), then two
numeric groups.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from monitor.errors import DatasetError, InputError, RasterError
from monitor.io.raster_header import dtype_kind
from monitor.io.rasters import DEFAULT_MAX_PIXELS, Raster, read_raster
from monitor.science.crop import PixelWindow

FRAME_RE = re.compile(r"^\d{3}[AD]_\d{5}_\d{6}$")
PAIR_RE = re.compile(r"^(\d{8})_(\d{8})$")
POSTING_DEG = 0.001
#: Weather-model delay kinds and the suffix of their per-epoch files (``<d><suffix>``).
DELAY_SUFFIXES: dict[str, str] = {"gacos": ".sltd.geo.tif", "icams": ".icams.sltd.geo.tif"}


def parse_date(text: str, where: str = "") -> date:
    """``YYYYMMDD`` to a date, with an error naming where the text came from."""
    try:
        return datetime.strptime(text, "%Y%m%d").date()
    except ValueError:
        raise DatasetError(f"{where or 'LiCSAR name'}: {text!r} is not a YYYYMMDD date") from None


def format_date(d: date) -> str:
    return d.strftime("%Y%m%d")


def pair_name(d1: date, d2: date) -> str:
    return f"{format_date(d1)}_{format_date(d2)}"


def parse_pair(name: str, where: str = "") -> tuple[date, date]:
    """``YYYYMMDD_YYYYMMDD`` to a date pair (first before second)."""
    m = PAIR_RE.match(name)
    if not m:
        raise DatasetError(f"{where or 'LiCSAR name'}: {name!r} is not a "
                           "YYYYMMDD_YYYYMMDD interferogram pair")
    d1, d2 = parse_date(m.group(1), where), parse_date(m.group(2), where)
    if d2 <= d1:
        raise DatasetError(f"{where or 'LiCSAR name'}: pair {name!r} has its second date "
                           "on or before its first")
    return d1, d2


def check_delay_kinds(kinds: Sequence[str]) -> tuple[str, ...]:
    """The weather-model kinds asked for, in order, without repeats.

    Raises:
        InputError: an unknown kind (known: the keys of :data:`DELAY_SUFFIXES`).
    """
    out = tuple(dict.fromkeys(str(k).strip() for k in kinds if str(k).strip()))
    bad = [k for k in out if k not in DELAY_SUFFIXES]
    if bad:
        raise InputError(f"unknown delay model(s) {', '.join(bad)}; choose from "
                         f"{', '.join(DELAY_SUFFIXES)}")
    return out


def delay_file_name(d: date, kind: str) -> str:
    """Name of the ``kind`` (``gacos`` or ``icams``) delay file of epoch ``d``."""
    if kind not in DELAY_SUFFIXES:
        raise DatasetError(f"unknown delay kind {kind!r}; expected one of "
                           f"{', '.join(DELAY_SUFFIXES)}")
    return format_date(d) + DELAY_SUFFIXES[kind]


def check_frame_id(frame: str) -> str:
    if not FRAME_RE.match(frame):
        raise DatasetError(f"frame id {frame!r} does not look like a LiCSAR frame "
                           "(expected e.g. 022D_04826_121209)")
    return frame


@dataclass(frozen=True)
class FrameLayout:
    """Paths of one frame's products under a root directory."""

    root: Path
    frame: str

    @property
    def frame_dir(self) -> Path:
        return self.root / self.frame

    @property
    def interferograms_dir(self) -> Path:
        return self.frame_dir / "interferograms"

    @property
    def metadata_dir(self) -> Path:
        return self.frame_dir / "metadata"

    def unw(self, d1: date, d2: date) -> Path:
        p = pair_name(d1, d2)
        return self.interferograms_dir / p / f"{p}.geo.unw.tif"

    def cc(self, d1: date, d2: date) -> Path:
        p = pair_name(d1, d2)
        return self.interferograms_dir / p / f"{p}.geo.cc.tif"

    @property
    def epochs_dir(self) -> Path:
        return self.frame_dir / "epochs"

    def epoch_dir(self, d: date) -> Path:
        return self.epochs_dir / format_date(d)

    def epoch_delay(self, d: date, kind: str) -> Path:
        """Per-epoch weather-model delay file: ``gacos`` (``epochs/<d>/<d>.sltd.geo.tif``)
        or ``icams`` (``epochs/<d>/<d>.icams.sltd.geo.tif``).

        Raises:
            DatasetError: ``kind`` is neither.
        """
        return self.epoch_dir(d) / delay_file_name(d, kind)

    def metadata_raster(self, kind: str) -> Path:
        """``hgt``, ``E``, ``N`` or ``U``."""
        return self.metadata_dir / f"{self.frame}.geo.{kind}.tif"

    @property
    def metadata_txt(self) -> Path:
        return self.metadata_dir / "metadata.txt"

    @property
    def baselines(self) -> Path:
        return self.metadata_dir / "baselines"

    def pairs(self) -> list[tuple[date, date]]:
        """Interferogram date pairs present on disk, sorted; bad names are errors."""
        if not self.interferograms_dir.is_dir():
            raise DatasetError(f"{self.interferograms_dir}: no interferograms directory "
                               f"for frame {self.frame}")
        pairs = [parse_pair(p.name, str(p)) for p in self.interferograms_dir.iterdir()
                 if p.is_dir()]
        return sorted(pairs)

    def read_metadata(self) -> dict[str, str]:
        """``metadata.txt`` as a dict of strings."""
        return parse_metadata_txt(self.metadata_txt)

    def read_unw(self, d1: date, d2: date, max_pixels: int | None = None) -> Raster:
        """Unwrapped phase, radians; LiCSAR's 0 and NaN both become NaN."""
        if max_pixels is None:
            return read_unw_file(self.unw(d1, d2))
        return read_unw_file(self.unw(d1, d2), max_pixels=max_pixels)

    def read_cc(self, d1: date, d2: date) -> NDArray[np.float32]:
        """Coherence in [0, 1] (uint8 0-255 or float 0-1 on disk), NaN where nodata."""
        return read_cc_file(self.cc(d1, d2))


def read_unw_file(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS,
                  max_bytes: int | None = None, window: PixelWindow | None = None) -> Raster:
    """A LiCSAR unwrapped-phase file, radians ``(ny, nx)``; LiCSAR's 0 and NaN both become
    NaN (the portal writes 0 where there is no data). With ``window``, only those pixels
    (:func:`~monitor.io.rasters.read_raster`).

    Raises:
        RasterError: not a readable single-band raster, too large (``max_pixels``, or the
            memory budget ``max_bytes`` judged from the header), not floating point
            (unwrapped phase is float32 radians: integer or complex data is something
            else), or without a finite value.
    """
    raster = read_raster(path, zero_is_nodata=True, max_pixels=max_pixels,
                         max_bytes=max_bytes, window=window)
    if raster.source_dtype is not None and dtype_kind(raster.source_dtype) != "f":
        raise RasterError(f"{path}: unwrapped phase of data type {raster.source_dtype}; "
                          "expected floating point (float32 radians)")
    return raster


def read_cc_file(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS,
                 max_bytes: int | None = None, window: PixelWindow | None = None
                 ) -> NDArray[np.float32]:
    """A LiCSAR coherence file as 0-1 float32 ``(ny, nx)``, NaN where nodata (with
    ``window``, only those pixels).

    The portal writes uint8 0-255 (0 = nodata); float 0-1 files are taken as they are.
    This is the one coherence reader of the package.

    Raises:
        DatasetError: values outside [0, 1] after scaling, naming the file.
    """
    r = read_raster(path, require_finite=False, max_pixels=max_pixels, max_bytes=max_bytes,
                    window=window)
    data = r.data
    if r.source_dtype is not None and np.issubdtype(np.dtype(r.source_dtype), np.integer):
        data = data / np.float32(255.0)
    finite = data[np.isfinite(data)]
    if finite.size and (finite.min() < 0 or finite.max() > 1.0):
        raise DatasetError(f"{path}: coherence outside [0, 1] "
                           f"({finite.min():g} to {finite.max():g}); expected uint8 0-255 "
                           "or float 0-1")
    return np.asarray(data, np.float32)


def parse_metadata_txt(path: Path) -> dict[str, str]:
    """Parse LiCSAR ``metadata.txt`` (``key=value`` lines; blank and ``#`` lines ignored)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read metadata ({exc})") from None
    out: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if "=" not in line:
            raise DatasetError(f"{path}:{n}: expected key=value, got {line!r}")
        key, value = line.split("=", 1)
        out[key.strip()] = value.strip()
    return out


def metadata_float(meta: dict[str, str], key: str, where: str) -> float:
    """A numeric ``metadata.txt`` value, with a clear error when missing or malformed."""
    if key not in meta:
        raise DatasetError(f"{where}: metadata has no {key!r}")
    try:
        return float(meta[key])
    except ValueError:
        raise DatasetError(f"{where}: metadata {key}={meta[key]!r} is not a number") from None
