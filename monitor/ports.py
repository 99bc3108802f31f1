"""The small interfaces the pipeline depends on; adapters implement them.

Only the daemon and the CLI choose concrete adapters (STYLE.md rule 7).
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Protocol, runtime_checkable

from monitor.domain import FetchedProduct, ProductRef


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


class Clock(Protocol):
    """The time, injected so that tests control it."""

    def now(self) -> datetime:
        """Current time, UTC, timezone-aware."""
        ...
