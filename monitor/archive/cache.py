"""The local product cache shared by the archive adapters.

A product file lands at ``<cache_dir>/<frame>/<pair>/<name>`` (metadata files at
``<cache_dir>/<frame>/metadata/<name>``, weather-model delays at
``<cache_dir>/<frame>/epochs/<YYYYMMDD>/<name>``, PALSAR-2 scenes at
``<cache_dir>/<frame>/scenes/<dataset_id>/<name>`` through :mod:`monitor.archive.resumable`)
only once it is complete, checksummed and
valid (:func:`validate_product`): it is written to a temporary ``.part`` file
in the same directory, validated, then moved with ``os.replace``. A JSON sidecar
``<name>.meta.json`` records where it came from, its size, Last-Modified and sha256, so that an
unchanged remote file is not downloaded again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from monitor.archive.listing import validate_name
from monitor.config import PALSAR2_FRAME_PATTERN
from monitor.domain import ProductRef
from monitor.errors import ArchiveError, BrokenProduct, DatasetError, RasterError
from monitor.io.atomic import atomic_write
from monitor.io.licsar import check_frame_id, parse_metadata_txt
from monitor.io.raster_header import (
    DEFAULT_MAX_BYTES,
    check_budget,
    check_real_dtype,
    read_header,
)
from monitor.io.rasters import read_raster
from monitor.science.product_checks import phase_problem

CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class Sidecar:
    """What the cache knows about one cached file (sizes in bytes)."""

    url: str
    size_bytes: int
    last_modified: str | None
    sha256: str


def _check_frame(frame: str) -> None:
    """A LiCSAR frame id, or a PALSAR-2 one (``P018F2900``) of a tellus archive."""
    if not re.fullmatch(PALSAR2_FRAME_PATTERN, frame):
        check_frame_id(frame)


def cache_path(cache_dir: Path, ref: ProductRef, name: str) -> Path:
    """Final path of one file of ``ref`` in the cache (names validated again here)."""
    _check_frame(ref.frame)
    validate_name(name, f"product {ref.frame} {ref.pair}")
    return Path(cache_dir) / ref.frame / ref.pair / name


def frame_file_path(cache_dir: Path, frame: str, *parts: str) -> Path:
    """Final path of a frame file that belongs to no pair, e.g. ``(frame, "metadata",
    name)`` or ``(frame, "epochs", "20240106", name)``; every part validated as a name."""
    _check_frame(frame)
    for part in parts:
        validate_name(part, f"frame {frame} file {'/'.join(parts)}")
    return Path(cache_dir).joinpath(frame, *parts)


def reusable(final: Path, url: str, size: int | None, last_modified: str | None
             ) -> Sidecar | None:
    """The sidecar of a cached copy that can be used as it is: same source URL, the
    source's size and Last-Modified unchanged, and the copy's checksum intact."""
    side = read_sidecar(final) if final.is_file() else None
    if (side is None or side.url != url or size is None or last_modified is None
            or side.size_bytes != size or side.last_modified != last_modified):
        return None
    return side if sha256_file(final) == side.sha256 else None


def sidecar_path(path: Path) -> Path:
    return path.with_name(path.name + ".meta.json")


def read_sidecar(path: Path, at: Path | None = None) -> Sidecar | None:
    """The sidecar of a cached file (at ``at`` when given, else beside it), or None when
    missing, unreadable or stale."""
    try:
        raw = json.loads((at or sidecar_path(path)).read_text(encoding="utf-8"))
        side = Sidecar(str(raw["url"]), int(raw["size_bytes"]), raw.get("last_modified"),
                       str(raw["sha256"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        if path.stat().st_size != side.size_bytes:
            return None
    except OSError:
        return None
    return side


def write_sidecar(path: Path, side: Sidecar, at: Path | None = None) -> None:
    """Write the sidecar atomically (at ``at`` when given, else beside the file)."""
    target = at or sidecar_path(path)
    with atomic_write(target, "w") as fh:
        json.dump(asdict(side), fh, indent=1)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK_BYTES), b""):
            h.update(chunk)
    return h.hexdigest()


def temp_part(final: Path) -> tuple[int, Path]:
    """Open a unique ``.part`` file beside ``final`` (directory created), named with this
    process's id so that a killed writer's file can be told from a live one's
    (:func:`monitor.io.atomic.sweep_orphaned_temp_files`)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f"{final.name}.{os.getpid()}.", suffix=".part",
                               dir=final.parent)
    return fd, Path(tmp)


#: What :func:`validate_product` checks per kind of file.
PRODUCT_KINDS = ("unw", "cc", "delay", "hgt", "U", "metadata_txt")


def validate_product(part: Path, kind: str, url: str,
                     max_bytes: int = DEFAULT_MAX_BYTES) -> None:
    """Check a downloaded file is usable before it gets its final name.

    Rasters are judged from their header first (:mod:`monitor.io.raster_header`): one
    band, a real data type, and no more pixels than the watch can process within
    ``max_bytes``; a decompression bomb is refused there, before its pixels are read.
    Then, per kind: ``unw`` (float radians; 0 and NaN are nodata; at least one finite
    value; no infinity and no |phase| beyond
    :data:`~monitor.science.product_checks.MAX_ABS_PHASE_RAD`), ``cc`` (any real
    single-band raster), ``delay`` and ``U`` (single-band float rasters with at least one
    finite value), ``hgt`` (single-band numeric raster with a finite value),
    ``metadata_txt`` (``key=value`` lines).

    Raises:
        BrokenProduct: naming ``url``, when the file is not what its kind requires.
    """
    if kind not in PRODUCT_KINDS:
        raise ArchiveError(f"{url}: unknown product kind {kind!r}")
    try:
        if kind == "metadata_txt":
            parse_metadata_txt(part)
            return
        header = read_header(part)
        if header.count != 1:
            raise RasterError(f"{part}: expected a single-band raster, found "
                              f"{header.count} bands")
        check_real_dtype(header, floating=kind in ("unw", "delay", "U"))
        check_budget(header, max_bytes)
        raster = read_raster(part, zero_is_nodata=kind == "unw", require_finite=kind != "cc")
        if kind == "unw":
            problem = phase_problem(raster.data)
            if problem is not None:
                raise RasterError(f"{part}: {problem}")
    except (RasterError, DatasetError, UnicodeDecodeError) as exc:
        raise BrokenProduct(f"{url}: broken product, not installed in the cache "
                           f"({str(exc).replace(str(part), 'download')})") from None


def install(part: Path, final: Path) -> None:
    """Move a complete, validated ``.part`` file to its final name (atomic)."""
    os.replace(part, final)


def discard(part: Path) -> None:
    with contextlib.suppress(OSError):
        part.unlink()
