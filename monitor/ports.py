"""The small interfaces the watch depends on; adapters implement them.

- :class:`Archive`: ``monitor.archive.LocalArchive``, ``monitor.archive.LicsarHttpArchive``,
  ``monitor.archive.TellusArchive``
- :class:`Store`: ``monitor.store.Store`` (SQLite, PostgreSQL)
- :class:`Notifier`: ``monitor.notify.email.EmailNotifier`` (SMTP or a dry-run folder),
  ``monitor.notify.webhook.WebhookNotifier`` (a signed JSON POST)
- :class:`Clock`: :class:`SystemClock`; tests pass a fixed one
- :class:`Detector` (defined in :mod:`monitor.science.detect.detector`, free of torch):
  ``monitor.science.detect.fusion.CnnDetector``

Only the daemon and the CLI choose concrete adapters (docs/architecture.md, Layers);
everything between takes the port. ``tests/test_ports.py`` checks every implementation
against its port. The store's rows (:mod:`monitor.store.models`) are the records the
:class:`Store` port returns.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from monitor.domain import (
    AlertDelivery,
    AlertLevel,
    DecodedProduct,
    DeliveryResult,
    FetchedProduct,
    FrameMetadata,
    ProductRef,
    ScoreCorrection,
)
from monitor.science.crop import PixelWindow
from monitor.science.detect.detector import Detector as Detector  # the port, re-exported
from monitor.store.models import Alert, Delivery, Epoch, Product, Score, Target

if TYPE_CHECKING:  # the detector record lives with the science; torch only when typing
    from monitor.store.repository import Backoff


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

    def decode(self, fetched: FetchedProduct, max_pixels: int,
               window: PixelWindow | None = None) -> DecodedProduct:
        """Read a fetched product in the watch's units: LOS metres (NaN = no data),
        coherence 0-1, and the grid (transform, CRS) they lie on. The adapter applies its
        own encodings (no-data value, coherence scale, wavelength and sign). With
        ``window`` (a target's crop, in the product's pixels) only those pixels are read
        and the transform is the window's. Raises ``RasterError`` (unreadable, more than
        ``max_pixels``, the window not inside the product) or ``DatasetError``."""
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


@runtime_checkable
class Store(Protocol):
    """The watch's records: targets, products, epochs, scores, alerts and the outbox.

    What the pipeline and the outbox use of :class:`monitor.store.Store`; every write is
    idempotent (a repeated call leaves the same rows), times are timezone-aware UTC.
    """

    # -- targets and products (stages list, fetch, ingest) ---------------------------
    def upsert_target(self, target_id: str, name: str, lon: float, lat: float,
                      radius_km: float, now: datetime) -> Target: ...

    def list_targets(self) -> list[Target]: ...

    def record_listed_products(self, target_id: str, refs: Iterable[ProductRef],
                               now: datetime) -> list[Product]: ...

    def pending_products(self, target_id: str, now: datetime) -> list[Product]: ...

    def get_product(self, target_id: str, frame: str, date1: date, date2: date
                    ) -> Product: ...

    def mark_product_fetched(self, product_id: int, checksum: str, now: datetime,
                             size_bytes: int | None = None) -> Product: ...

    def mark_product_ingested(self, product_id: int, now: datetime) -> Product: ...

    def mark_product_failed(self, product_id: int, error: str, now: datetime) -> Product: ...

    def quarantine_product(self, product_id: int, reason: str, now: datetime) -> Product: ...

    def list_products(self, target_id: str | None = None, *, frame: str | None = None,
                      status: str | None = None) -> list[Product]: ...

    def newest_ingested(self, target_id: str) -> dict[str, tuple[date, datetime]]: ...

    # -- epochs and scores (stages series, score) -------------------------------------
    def record_epoch(self, target_id: str, epoch: date, n_products: int, segment: int,
                     series_file: str, cum_max_m: float | None) -> Epoch: ...

    def list_epochs(self, target_id: str) -> list[Epoch]: ...

    def record_score(self, target_id: str, epoch: date, *, p_fused: float | None,
                     p_by_gain: Mapping[str, float], model_sha256: str, code_version: str,
                     params: Mapping[str, Any], now: datetime,
                     peak_row: int | None = None, peak_col: int | None = None,
                     peak_lon: float | None = None, peak_lat: float | None = None,
                     lstt_p: float | None = None, lstt_pe: float | None = None,
                     lstt_by_reference: Mapping[str, Any] | None = None,
                     correction: ScoreCorrection | None = None,
                     signal: Mapping[str, Any] | None = None) -> Score: ...

    def get_score(self, target_id: str, epoch: date) -> Score | None: ...

    def latest_scores(self, target_id: str, n: int) -> list[Score]: ...

    # -- alerts and the outbox (stages alert, deliver) --------------------------------
    def raise_alert(self, target_id: str, epoch: date, kind: str, level: AlertLevel,
                    message: str, now: datetime) -> Alert | None: ...

    def get_alert(self, alert_id: int) -> Alert: ...

    def list_alerts(self, target_id: str | None = None,
                    unacknowledged_only: bool = False) -> list[Alert]: ...

    def queue_deliveries(self, alert_id: int, recipients: Sequence[str], now: datetime,
                         channel: str = "email") -> list[Delivery]: ...

    def pending_deliveries(self, now: datetime) -> list[Delivery]: ...

    def claim_delivery(self, delivery_id: int, now: datetime, lease_s: float) -> bool: ...

    def get_delivery(self, delivery_id: int) -> Delivery: ...

    def mark_delivery_sent(self, delivery_id: int, now: datetime) -> Delivery: ...

    def mark_delivery_failed(self, delivery_id: int, error: str, now: datetime,
                             backoff: Backoff = ..., max_attempts: int | None = None, *,
                             permanent: bool = False) -> Delivery: ...

    def outbox_depth(self, channel: str | None = None) -> int: ...

    def failed_count(self, channel: str | None = None) -> int: ...

    def oldest_waiting(self, channel: str | None = None) -> datetime | None: ...

    def list_deliveries(self, *, alert_ids: Iterable[int] | None = None,
                        failed_only: bool = False) -> list[Delivery]: ...

    def requeue_deliveries(self, now: datetime, *, delivery_ids: Sequence[int] = (),
                           alert_id: int | None = None,
                           all_failed: bool = False) -> list[Delivery]: ...


@runtime_checkable
class Notifier(Protocol):
    """A delivery channel: hands one alert to one recipient (an e-mail address, a webhook's
    name); another channel is another implementation, added without touching the outbox,
    which hands each queued delivery to the notifier of its ``channel``.

    ``deliver`` reports a failure in its result (retryable or not) rather than raising, so
    the outbox records every attempt the same way whatever the channel.
    """

    #: Channel name: the outbox rows' ``channel``, logs and metrics (``"email"``,
    #: ``"webhook"``).
    channel: str

    def deliver(self, delivery: AlertDelivery) -> DeliveryResult:
        """Deliver ``delivery``; the same delivery sent twice is the same message."""
        ...


@runtime_checkable
class Clock(Protocol):
    """The time, injected so that tests control it."""

    def now(self) -> datetime:
        """Current time, UTC, timezone-aware."""
        ...


class SystemClock:
    """The system clock, UTC."""

    def now(self) -> datetime:
        """``datetime.now(UTC)``."""
        return datetime.now(UTC)
