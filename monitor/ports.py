"""The small interfaces the pipeline depends on; adapters implement them.

Only the daemon and the CLI choose concrete adapters (STYLE.md rule 7).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Protocol, runtime_checkable

from monitor.domain import FetchedProduct, FrameMetadata, ProductRef


@runtime_checkable
class Archive(Protocol):
    """Where products come from (a local directory, the LiCSAR portal...).

    Each adapter declares the radar wavelength (metres) and the sign linking its unwrapped
    phase to LOS displacement (``d = phase_sign * wavelength / (4 pi) * phase``).
    """

    name: str
    wavelength_m: float
    phase_sign: int

    def list_products(self, frame: str, since: date | None = None) -> list[ProductRef]:
        """Products of ``frame`` whose second date is after ``since`` (all when None),
        sorted by date pair. Raises ``ArchiveUnavailable`` or ``ArchiveError``."""
        ...

    def fetch(self, ref: ProductRef, cache_dir: Path) -> FetchedProduct:
        """Copy a product into ``cache_dir`` (atomically: a partial download is never
        left under the final name) and return its local paths and checksum."""
        ...

    def fetch_metadata(self, frame: str, cache_dir: Path) -> FrameMetadata:
        """Copy the frame's height raster, LOS up raster and ``metadata.txt`` into
        ``cache_dir`` (same caching, validation and retries as :meth:`fetch`); a file the
        archive does not have is None. Raises ``ArchiveUnavailable`` or ``ArchiveError``
        (a published file that is broken: not installed in the cache)."""
        ...

    def fetch_epoch_delays(self, frame: str, epoch: date, cache_dir: Path,
                           kinds: Sequence[str] = ("gacos", "icams")) -> dict[str, str]:
        """Copy the weather-model delay files of one acquisition into ``cache_dir``.

        Returns ``{"gacos": path, "icams": path}`` with only the ``kinds`` asked for and
        published for that epoch, ``{}`` when none is (no epoch directory); kinds not asked
        for are not fetched (a broken file of one model never blocks the other). Delays
        are total delays in metres (the portal's are slant: zenith delay / U). Raises
        ``ArchiveUnavailable`` or ``ArchiveError`` like :meth:`fetch`; a published file
        that is not a single-band float raster is an ``ArchiveError`` naming its URL and
        is never left in the cache."""
        ...


class Clock(Protocol):
    """The time, injected so that tests control it."""

    def now(self) -> datetime:
        """Current time, UTC, timezone-aware."""
        ...
