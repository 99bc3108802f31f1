"""Archive adapter for a local directory in the LiCSAR layout (the embedded default).

The frame directory is looked up as ``<root>/<track>/<frame>`` (the portal's tree, track
without leading zeros) and, failing that, ``<root>/<frame>`` (the layout
:func:`monitor.io.synth_archive.write_synthetic_archive` writes).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path

from monitor.archive import cache
from monitor.archive.cursor import products_since
from monitor.archive.licsar_products import decode_licsar_product
from monitor.domain import (
    DecodedProduct,
    FetchedProduct,
    FrameMetadata,
    ProductRef,
    RemoteFile,
)
from monitor.errors import ArchiveError, DatasetError, InputError
from monitor.io.licsar import (
    DELAY_SUFFIXES,
    FRAME_RE,
    FrameLayout,
    check_delay_kinds,
    format_date,
    pair_name,
)
from monitor.io.raster_header import DEFAULT_MAX_BYTES
from monitor.science.crop import PixelWindow
from monitor.science.geometry import SENTINEL1, Sensor

log = logging.getLogger(__name__)


def track_of(frame: str) -> str:
    """Track number of a frame id without leading zeros (``022D_...`` -> ``"22"``).

    Raises:
        InputError: ``frame`` is not a LiCSAR frame id (``\\d{3}[AD]_\\d{5}_\\d{6}``).
    """
    if not FRAME_RE.match(frame):
        raise InputError(f"frame={frame!r} is not a LiCSAR frame id "
                         "(expected e.g. 022D_04826_121209)")
    return str(int(frame[:3]))


def _remote_file(path: Path) -> RemoteFile:
    st = path.stat()
    return RemoteFile(url=path.resolve().as_uri(), name=path.name, size_bytes=st.st_size,
                      last_modified=datetime.fromtimestamp(st.st_mtime, UTC))


class LocalArchive:
    """Products from a local directory in the LiCSAR layout (Sentinel-1, LiCSAR sign).

    Args:
        root: Archive root holding ``<track>/<frame>`` or ``<frame>`` directories.
        max_bytes: Memory budget of one product (``[rasters] max_bytes``): larger
            rasters are refused from their header (:mod:`monitor.io.raster_header`).
    """

    name = "local"
    wavelength_m: float = SENTINEL1.wavelength_m
    phase_sign: int = SENTINEL1.phase_sign

    def __init__(self, root: str | os.PathLike[str],
                 max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.root = Path(root)
        self.max_bytes = max_bytes

    def layout(self, frame: str) -> FrameLayout:
        """Where ``frame`` lives under the root."""
        nested = self.root / track_of(frame)
        if (nested / frame).is_dir():
            return FrameLayout(nested, frame)
        return FrameLayout(self.root, frame)

    def list_products(self, frame: str, since: date | None = None) -> list[ProductRef]:
        """Pairs of ``frame`` with their files; pairs without an unwrapped file are skipped.

        Raises:
            ArchiveError: the frame directory is missing or holds a badly named pair.
        """
        try:
            layout = self.layout(frame)
            pairs = layout.pairs()
        except DatasetError as exc:
            raise ArchiveError(f"local archive {self.root}: {exc}") from None
        refs = []
        for d1, d2 in pairs:
            if since is not None and d2 <= since:
                continue
            unw, cc = layout.unw(d1, d2), layout.cc(d1, d2)
            if not unw.is_file():
                log.warning("local archive %s: pair %s has no unwrapped file, skipped",
                            self.root, pair_name(d1, d2))
                continue
            refs.append(ProductRef(frame, d1, d2, _remote_file(unw),
                                   _remote_file(cc) if cc.is_file() else None))
        return products_since(refs, since)

    def _copy(self, ref: ProductRef, remote: RemoteFile, kind: str, cache_dir: Path) -> str:
        src = self.layout(ref.frame).unw(ref.date1, ref.date2) if kind == "unw" else \
            self.layout(ref.frame).cc(ref.date1, ref.date2)
        final = cache.cache_path(cache_dir, ref, remote.name)
        return self._copy_file(src, remote, kind, final)

    def _copy_file(self, src: Path, remote: RemoteFile, kind: str, final: Path) -> str:
        fd, part = cache.temp_part(final)
        try:
            with os.fdopen(fd, "wb") as out, open(src, "rb") as fh:
                for chunk in iter(lambda: fh.read(cache.CHUNK_BYTES), b""):
                    out.write(chunk)
            cache.validate_product(part, kind, remote.url, self.max_bytes)
            digest = cache.sha256_file(part)
            size = part.stat().st_size
            cache.install(part, final)
        except OSError as exc:
            cache.discard(part)
            if isinstance(exc, ArchiveError):
                raise
            raise ArchiveError(f"{src}: cannot copy into the cache {final.parent} "
                               f"({exc})") from None
        lm = remote.last_modified.isoformat() if remote.last_modified else None
        cache.write_sidecar(final, cache.Sidecar(remote.url, size, lm, digest))
        return digest

    def fetch(self, ref: ProductRef, cache_dir: Path) -> FetchedProduct:
        """Copy the product's files into ``cache_dir`` atomically and checksum them.

        Raises:
            ArchiveError: a file is missing or is not a usable raster.
        """
        digest = self._copy(ref, ref.unw, "unw", cache_dir)
        extra = {"unw_url": ref.unw.url}
        cc_path = None
        if ref.cc is not None:
            extra["cc_sha256"] = self._copy(ref, ref.cc, "cc", cache_dir)
            cc_path = str(cache.cache_path(cache_dir, ref, ref.cc.name))
        return FetchedProduct(ref, str(cache.cache_path(cache_dir, ref, ref.unw.name)),
                              cc_path, digest, extra)

    def _cached_copy(self, src: Path, kind: str, final: Path) -> str:
        """Copy ``src`` to ``final`` unless the cached copy is still that file's."""
        remote = _remote_file(src)
        lm = remote.last_modified.isoformat() if remote.last_modified else None
        if cache.reusable(final, remote.url, remote.size_bytes, lm) is not None:
            log.debug("local archive %s unchanged; cached copy kept", src)
            return str(final)
        self._copy_file(src, remote, kind, final)
        return str(final)

    def decode(self, fetched: FetchedProduct, max_pixels: int,
               window: PixelWindow | None = None) -> DecodedProduct:
        """The fetched pair (``window`` of it, when given) in LOS metres and coherence 0-1
        (the LiCSAR decoder, :func:`~monitor.archive.licsar_products.decode_licsar_product`)."""
        return decode_licsar_product(fetched, max_pixels,
                                     Sensor(self.name, self.wavelength_m, self.phase_sign),
                                     max_bytes=self.max_bytes, window=window)

    def fetch_metadata(self, frame: str, cache_dir: Path) -> FrameMetadata:
        """Copy the frame's ``hgt`` and ``U`` rasters and ``metadata.txt`` into
        ``<cache_dir>/<frame>/metadata/``; files the archive lacks are None.

        Raises:
            ArchiveError: a present file is not usable (nothing cached under its name).
        """
        track_of(frame)
        layout = self.layout(frame)
        out: dict[str, str | None] = {}
        for key, src, kind in (("hgt", layout.metadata_raster("hgt"), "hgt"),
                               ("U", layout.metadata_raster("U"), "U"),
                               ("txt", layout.metadata_txt, "metadata_txt")):
            final = cache.frame_file_path(Path(cache_dir), frame, "metadata", src.name)
            out[key] = self._cached_copy(src, kind, final) if src.is_file() else None
        return FrameMetadata(frame, out["hgt"], out["U"], out["txt"])

    def fetch_epoch_delays(self, frame: str, epoch: date, cache_dir: Path,
                           kinds: Sequence[str] = tuple(DELAY_SUFFIXES)) -> dict[str, str]:
        """Copy the epoch's GACOS / ICAMS delay files into
        ``<cache_dir>/<frame>/epochs/<YYYYMMDD>/``; ``{}`` when none is published.

        Raises:
            ArchiveError: a present file is not a single-band float raster (nothing cached
                under its name).
        """
        track_of(frame)
        layout = self.layout(frame)
        out: dict[str, str] = {}
        for kind in check_delay_kinds(kinds):
            src = layout.epoch_delay(epoch, kind)
            if src.is_file():
                final = cache.frame_file_path(Path(cache_dir), frame, "epochs",
                                              format_date(epoch), src.name)
                out[kind] = self._cached_copy(src, "delay", final)
        return out
