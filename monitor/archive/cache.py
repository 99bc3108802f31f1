"""The local product cache shared by the archive adapters.

A product file lands at ``<cache_dir>/<frame>/<pair>/<name>`` only once it is complete,
checksummed and readable as a single-band raster: it is written to a temporary ``.part`` file
in the same directory, validated, then moved with ``os.replace``. A JSON sidecar
``<name>.meta.json`` records where it came from, its size, Last-Modified and sha256, so that an
unchanged remote file is not downloaded again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from monitor.archive.listing import validate_name
from monitor.domain import ProductRef
from monitor.errors import ArchiveError, RasterError
from monitor.io.atomic import atomic_write
from monitor.io.licsar import check_frame_id
from monitor.io.rasters import read_raster

CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class Sidecar:
    """What the cache knows about one cached file (sizes in bytes)."""

    url: str
    size_bytes: int
    last_modified: str | None
    sha256: str


def cache_path(cache_dir: Path, ref: ProductRef, name: str) -> Path:
    """Final path of one file of ``ref`` in the cache (names validated again here)."""
    check_frame_id(ref.frame)
    validate_name(name, f"product {ref.frame} {ref.pair}")
    return Path(cache_dir) / ref.frame / ref.pair / name


def sidecar_path(path: Path) -> Path:
    return path.with_name(path.name + ".meta.json")


def read_sidecar(path: Path) -> Sidecar | None:
    """The sidecar of a cached file, or None when missing, unreadable or stale."""
    try:
        raw = json.loads(sidecar_path(path).read_text(encoding="utf-8"))
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


def write_sidecar(path: Path, side: Sidecar) -> None:
    """Write the sidecar atomically."""
    target = sidecar_path(path)
    with atomic_write(target, "w") as fh:
        json.dump(asdict(side), fh, indent=1)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK_BYTES), b""):
            h.update(chunk)
    return h.hexdigest()


def temp_part(final: Path) -> tuple[int, Path]:
    """Open a unique ``.part`` file beside ``final`` (directory created)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=final.name + ".", suffix=".part", dir=final.parent)
    return fd, Path(tmp)


def validate_product(part: Path, kind: str, url: str) -> None:
    """Check a downloaded file is a usable raster before it gets its final name.

    ``kind`` is ``unw`` (float radians; 0 and NaN are nodata; at least one finite value) or
    ``cc`` (any single-band raster).

    Raises:
        ArchiveError: naming ``url``, when the file is not a single-band raster or the phase
            holds no finite value.
    """
    try:
        read_raster(part, zero_is_nodata=kind == "unw", require_finite=kind == "unw")
    except RasterError as exc:
        raise ArchiveError(f"{url}: broken product, not installed in the cache "
                           f"({str(exc).replace(str(part), 'download')})") from None


def install(part: Path, final: Path) -> None:
    """Move a complete, validated ``.part`` file to its final name (atomic)."""
    os.replace(part, final)


def discard(part: Path) -> None:
    with contextlib.suppress(OSError):
        part.unlink()
