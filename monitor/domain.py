"""Frozen records shared by the layers of the watch: products, epochs, scores, alerts.

Times are UTC and timezone-aware; acquisition epochs are dates (DESIGN.md).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any


class AlertLevel(enum.IntEnum):
    """Alert levels in rising order; a new alert is raised only when the level rises."""

    NONE = 0
    WATCH = 1
    WARNING = 2


class ProductStatus(enum.StrEnum):
    """Where a product is in the pipeline."""

    LISTED = "listed"
    FETCHED = "fetched"
    INGESTED = "ingested"
    FAILED = "failed"


@dataclass(frozen=True)
class RemoteFile:
    """One file an archive offers.

    Attributes:
        url: Where to fetch it (``file://`` or ``http(s)://``).
        name: File name, validated (no directory parts).
        size_bytes: Content length when the archive says it, else None.
        last_modified: Last-Modified time (UTC) when known.
    """

    url: str
    name: str
    size_bytes: int | None = None
    last_modified: datetime | None = None


@dataclass(frozen=True)
class ProductRef:
    """An interferogram an archive lists for a frame: the date pair and its files.

    Attributes:
        frame: LiCSAR frame id.
        date1: First acquisition.
        date2: Second acquisition (after ``date1``).
        unw: Unwrapped phase file (radians).
        cc: Coherence file, when the archive has one.
    """

    frame: str
    date1: date
    date2: date
    unw: RemoteFile
    cc: RemoteFile | None = None

    @property
    def pair(self) -> str:
        return f"{self.date1:%Y%m%d}_{self.date2:%Y%m%d}"


@dataclass(frozen=True)
class FetchedProduct:
    """A product copied into the local cache, complete and checksummed.

    Attributes:
        ref: What was fetched.
        unw_path: Local path of the unwrapped phase.
        cc_path: Local path of the coherence, if any.
        sha256: Checksum of the unwrapped-phase file.
    """

    ref: ProductRef
    unw_path: str
    cc_path: str | None
    sha256: str
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ScoreCorrection:
    """A flagged step rescored after an atmospheric correction (issue 6, seed 002 s. 5).

    Attributes:
        method: ``gacos`` or ``icams`` (the archive's weather-model delays), ``empirical``
            (a phase-elevation fit), or ``none`` when no correction could be made (the raw
            decision stands; ``details["reason"]`` says why).
        p_fused: Fused CNN probability of the corrected map within the target disc.
        p_by_gain: Its per-gain maxima, keys are the gains as strings.
        lstt_p: LSTT p-value of the corrected map.
        details: What was done, JSON-ready: coefficients, files, the methods tried before
            and why they failed.
    """

    method: str
    p_fused: float | None
    p_by_gain: Mapping[str, float] | None
    lstt_p: float | None
    details: Mapping[str, Any]


@dataclass(frozen=True)
class FrameMetadata:
    """A frame's metadata files, copied into the local cache (issue 6).

    Attributes:
        frame: LiCSAR frame id.
        hgt_path: Cached ``metadata/<frame>.geo.hgt.tif`` (DEM heights, metres), or None
            when the archive has no such file.
        u_path: Cached ``metadata/<frame>.geo.U.tif`` (LOS up component, cos(incidence)),
            or None.
        metadata_txt_path: Cached ``metadata/metadata.txt`` (key=value lines), or None.
    """

    frame: str
    hgt_path: str | None
    u_path: str | None
    metadata_txt_path: str | None
