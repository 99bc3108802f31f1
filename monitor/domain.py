"""Frozen records shared by the layers of the watch: products, epochs, scores, alerts.

Times are UTC and timezone-aware; acquisition epochs are dates (docs/architecture.md).
Numpy is imported for type checking only, so the command line starts without it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from monitor.errors import InputError

if TYPE_CHECKING:  # types only: the command line starts without numpy or rasterio
    import numpy as np
    from numpy.typing import NDArray
    from rasterio.transform import Affine


class AlertLevel(enum.IntEnum):
    """Alert levels in rising order; a new alert is raised only when the level rises."""

    NONE = 0
    WATCH = 1
    WARNING = 2


#: ``alerts.kind`` of an alert raised by the deformation policy (a level rose).
ALERT_KIND_DEFORMATION = "deformation"
#: ``alerts.kind`` of a raised level that fell back to none (``alerts.level`` is 0).
ALERT_KIND_CLEARED = "cleared"


class ProductStatus(enum.StrEnum):
    """Where a product is in the pipeline.

    ``failed`` products (the archive could not be reached, the disk was full) are retried
    with backoff; ``quarantined`` ones were refused for what they hold (corrupt, a
    decompression bomb, values no interferogram can hold, another grid, a scoring
    failure): they are not retried automatically, ``last_error`` says why, and an
    operator re-queues one with ``insar-monitor products retry ID``.
    """

    LISTED = "listed"
    FETCHED = "fetched"
    INGESTED = "ingested"
    FAILED = "failed"
    QUARANTINED = "quarantined"


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


@dataclass(frozen=True, eq=False)
class DecodedProduct:
    """A fetched product decoded by its archive adapter into the watch's conventions.

    Each adapter knows its products' encoding (LiCSAR: 0 = no data in the phase, uint8
    coherence, the sensor's wavelength and sign) and converts once, here (docs/architecture.md); the
    pipeline sees only these units.

    Attributes:
        ref: The product.
        displacement_m: LOS displacement, metres, positive towards the satellite, float32
            ``(ny, nx)``; NaN where there is no data.
        coherence: Coherence 0-1, float32 ``(ny, nx)``; all ones when the archive has none.
        transform: Pixel-to-map affine transform (pixel corners) of both maps.
        crs: Their CRS (``"EPSG:4326"`` for LiCSAR), or None when the file has none.
        source: The file the grid comes from (named in messages).
    """

    ref: ProductRef
    displacement_m: NDArray[np.float32]
    coherence: NDArray[np.float32]
    transform: Affine | None
    crs: str | None
    source: str

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.displacement_m.shape[0]), int(self.displacement_m.shape[1]))


@dataclass(frozen=True)
class ScoreCorrection:
    """A flagged step rescored after an atmospheric correction (issue 6).

    As Anantrasirichai et al. (2019a, section 5) do for the interferograms they flag.

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


@dataclass(frozen=True)
class AlertMessage:
    """What an alert says, whatever the channel that carries it (e-mail, a CAP feed...).

    Attributes:
        target_id: Target id (for example the Smithsonian GVP volcano number).
        target_name: Human name of the target.
        lon: Target centre longitude, degrees east.
        lat: Target centre latitude, degrees north.
        epoch: Acquisition date of the scored cumulative epoch.
        level: Alert level name (``watch``, ``warning``).
        p_fused: Fused CNN probability over the target (mean over gains;
            Anantrasirichai et al. 2019b, eq. 1).
        p_by_gain: ``(gain, probability)`` pairs, one per wrap gain.
        lstt_p: Smallest LSTT p-value over the reference regions, None when not scored.
        cumulative_max_m: Largest absolute cumulative LOS displacement in the target, metres.
        peak_lon: Longitude of the probability peak, degrees east (None if unknown).
        peak_lat: Latitude of the probability peak, degrees north (None if unknown).
        model_sha256: SHA-256 of the detector weights that scored the epoch (provenance).
        link_text: Free text added at the end, e.g. a dashboard URL or how to acknowledge.
        correction: The atmospheric correction the scores above come from (``gacos``,
            ``icams``, ``empirical``), None when they are the raw scores.
        p_fused_raw: The raw fused probability when ``p_fused`` is a corrected one.
        decision: One sentence on which scores the policy decided on, and why (for
            example that no correction could be made).
        reason: The alert's message: why the policy raised it (which rule, the change
            the series shows, "new episode" when a level was already raised), or why a
            level cleared.
        cleared: The alert says that a raised level fell back to none (``level`` is
            ``none``; ``cleared_level`` names the level that cleared).
        cleared_level: The level that cleared (``watch``, ``warning``), when known.
        frame: The frame whose score decided (from the score's series key), when known.
        radius_km: Radius of the target disc, kilometres (None: unknown).
        displacement_m: Signed bell amplitude of the cumulative map over the target,
            metres of LOS, positive towards the satellite (None: not measured).
        lstt_permutations: Null samples (permutations) of the LSTT behind ``lstt_p``:
            the smallest p it can give is ``1 / (n + 1)`` (None: unknown).
        ack_command: The command that acknowledges the alert, as it can be run.
        gls_p: P of the series' GLS Mogi filter on the same map, which confirms
            ``p_fused`` in the single-map rule (None: it did not judge the epoch).
        series_arrivals: Earlier acquisitions of the series whose scores set the
            threshold ``p_fused`` was judged against (the block detector's own threshold,
            :mod:`monitor.science.detect.series_blocks`; None: the packaged calibration's).
    """

    target_id: str
    target_name: str
    lon: float
    lat: float
    epoch: date
    level: str
    p_fused: float
    p_by_gain: tuple[tuple[float, float], ...]
    lstt_p: float | None
    cumulative_max_m: float
    peak_lon: float | None
    peak_lat: float | None
    model_sha256: str
    link_text: str = ""
    correction: str | None = None
    p_fused_raw: float | None = None
    decision: str = ""
    reason: str = ""
    cleared: bool = False
    cleared_level: str | None = None
    frame: str | None = None
    radius_km: float | None = None
    displacement_m: float | None = None
    lstt_permutations: int | None = None
    ack_command: str = ""
    gls_p: float | None = None
    series_arrivals: int | None = None

    def __post_init__(self) -> None:
        if self.gls_p is not None and not 0.0 <= self.gls_p <= 1.0:
            raise InputError(f"AlertMessage: gls_p must be in [0, 1] or None, got "
                             f"{self.gls_p!r}")
        if not 0.0 <= self.p_fused <= 1.0:
            raise InputError(f"AlertMessage: p_fused must be in [0, 1], got {self.p_fused!r}")
        if self.lstt_p is not None and not 0.0 <= self.lstt_p <= 1.0:
            raise InputError(f"AlertMessage: lstt_p must be in [0, 1] or None, "
                             f"got {self.lstt_p!r}")
        if not self.level:
            raise InputError("AlertMessage: level must name the alert level, got ''")
        if self.lstt_permutations is not None and self.lstt_permutations < 1:
            raise InputError(f"AlertMessage: lstt_permutations must be >= 1 or None, got "
                             f"{self.lstt_permutations!r}")

    @property
    def kind(self) -> str:
        """``raised`` or ``cleared`` (webhook payloads, subjects)."""
        return "cleared" if self.cleared else "raised"

    @property
    def lstt_floor(self) -> float | None:
        """The smallest p-value the LSTT's permutation null can give, ``1 / (n + 1)``
        (None when the number of permutations is unknown)."""
        n = self.lstt_permutations
        return None if n is None else 1.0 / (n + 1)

    @property
    def direction(self) -> str | None:
        """``towards`` or ``away``: the sense of :attr:`displacement_m` relative to the
        satellite (positive LOS is towards it); None when not measured or zero."""
        d = self.displacement_m
        if d is None or d == 0:
            return None
        return "towards" if d > 0 else "away"

    @property
    def new_episode(self) -> bool:
        """The alert is a new episode while a level was already raised (the policy's
        reason says so)."""
        return "new episode:" in self.reason

    @property
    def subject(self) -> str:
        where = f"{self.target_name} ({self.target_id}) epoch {self.epoch:%Y-%m-%d}"
        if self.cleared:
            was = f" {self.cleared_level.upper()}" if self.cleared_level else ""
            return f"[insar-monitor] CLEARED{was} {where}"
        episode = " NEW EPISODE" if self.new_episode else ""
        return f"[insar-monitor] {self.level.upper()}{episode} {where}"


@dataclass(frozen=True)
class AlertDelivery:
    """One alert to hand to one recipient over a delivery channel (a queued delivery).

    Attributes:
        delivery_id: The outbox row (``deliveries.id``).
        alert_id: The alert (``alerts.id``); with the recipient it makes the message id,
            so a message sent again after a crash is the same message.
        recipient: Address on the channel (an e-mail address, a webhook's name...).
        message: What to say.
        created_at: When the alert was raised, timezone-aware UTC (not "now": a message
            rebuilt after a restart is identical).
        quicklook_png: The alert's quicklook PNG, None when it is missing.
        quicklook_name: The PNG's file name in ``watch.quicklook_dir`` (a webhook's
            quicklook URL ends with it), None when there is none.
        channel: The channel the outbox hands it to (``email``, ``webhook``).
    """

    delivery_id: int
    alert_id: int
    recipient: str
    message: AlertMessage
    created_at: datetime
    quicklook_png: bytes | None = None
    quicklook_name: str | None = None
    channel: str = "email"


@dataclass(frozen=True)
class DeliveryResult:
    """What a delivery channel did with one :class:`AlertDelivery`.

    Attributes:
        delivered: The channel accepted it (a server took the message, a file was written).
        retryable: When not delivered, whether a later attempt may succeed (a 4xx reply, a
            timeout) rather than never (a 5xx reply, a message that cannot be built).
        detail: The channel's answer or the error, for the outbox row and the log.
        needs_operator: The failure is the set-up's, not the message's (a rejected
            login, a missing password or secret): retryable, logged at ERROR with what to
            fix, and the fix alone makes the delivery go out.
    """

    delivered: bool
    retryable: bool = False
    detail: str = ""
    needs_operator: bool = False
