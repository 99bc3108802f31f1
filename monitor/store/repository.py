"""The operations the pipeline needs from the store, each idempotent and clock-free.

Every method of :class:`Store` runs in its own transaction (``session_scope``) and returns
detached ORM rows. Insert-if-absent uses the dialect's ``INSERT ... ON CONFLICT DO
NOTHING`` on the table's unique key, so a repeated call (two polls, a restart after a crash)
creates no second row; deterministic values (epochs, scores) are upserted. The time is
always passed in as ``now`` (timezone-aware UTC), never read here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from monitor.domain import AlertLevel, ProductRef, ProductStatus, ScoreCorrection
from monitor.errors import InputError, StoreError
from monitor.store.models import (
    DEFAULT_CHANNEL,
    DELIVERY_FAILED,
    DELIVERY_QUEUED,
    DELIVERY_RETRYING,
    DELIVERY_SENT,
    DELIVERY_WAITING,
    Alert,
    Base,
    Delivery,
    Epoch,
    Product,
    Score,
    Target,
)
from monitor.store.session import session_scope

_RETRYABLE = (ProductStatus.LISTED.value, ProductStatus.FETCHED.value,
              ProductStatus.FAILED.value)


@dataclass(frozen=True)
class Backoff:
    """Exponential retry delay: ``min(max_s, base_s * factor ** (attempts - 1))`` seconds.

    Attributes:
        base_s: Delay after the first failure, seconds.
        factor: Growth per further failure.
        max_s: Upper bound of the delay, seconds.
    """

    base_s: float = 60.0
    factor: float = 2.0
    max_s: float = 6 * 3600.0

    def __post_init__(self) -> None:
        if not self.base_s > 0:
            raise InputError(f"Backoff base_s={self.base_s} must be > 0 seconds")
        if not self.factor >= 1:
            raise InputError(f"Backoff factor={self.factor} must be >= 1")
        if not self.max_s >= self.base_s:
            raise InputError(f"Backoff max_s={self.max_s} must be >= base_s={self.base_s}")

    def delay(self, attempts: int) -> timedelta:
        """Delay before the next try after ``attempts`` (>= 1) failures."""
        exponent = max(0, attempts - 1)
        seconds = self.max_s if exponent > 64 else self.base_s * self.factor ** exponent
        return timedelta(seconds=min(self.max_s, seconds))


def _aware(now: datetime, name: str = "now") -> datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise InputError(f"{name}={now!r} is naive; pass a timezone-aware UTC datetime")
    return now


class Store:
    """The watch's database, behind the operations of the pipeline, CLI and notifier.

    Args:
        engine: From :func:`monitor.store.session.make_engine` (SQLite or PostgreSQL).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- helpers -----------------------------------------------------------------------

    def _insert(self, session: Session, model: type[Base]) -> Any:
        name = session.get_bind().dialect.name
        if name == "sqlite":
            return sqlite.insert(model)
        if name == "postgresql":
            return postgresql.insert(model)
        raise StoreError(f"database dialect {name!r} is not supported; use sqlite or "
                         f"postgresql")

    # -- targets -----------------------------------------------------------------------

    def upsert_target(self, target_id: str, name: str, lon: float, lat: float,
                      radius_km: float, now: datetime) -> Target:
        """Insert the target, or update its name, centre and radius (``created_at`` kept)."""
        _aware(now)
        with session_scope(self.engine) as s:
            stmt = self._insert(s, Target).values(
                id=target_id, name=name, lon=lon, lat=lat, radius_km=radius_km,
                created_at=now)
            stmt = stmt.on_conflict_do_update(
                index_elements=[Target.id],
                set_={"name": name, "lon": lon, "lat": lat, "radius_km": radius_km})
            s.execute(stmt)
            return s.get_one(Target, target_id)

    def list_targets(self) -> list[Target]:
        """All targets, by id."""
        with session_scope(self.engine) as s:
            return list(s.scalars(sa.select(Target).order_by(Target.id)))

    # -- products ----------------------------------------------------------------------

    def record_listed_products(self, target_id: str, refs: Iterable[ProductRef],
                               now: datetime) -> list[Product]:
        """Record what the archive lists (insert if absent) and return what needs work.

        Returns:
            The products among ``refs`` not yet ingested and due now (never tried, or
            their backoff has expired), sorted by date pair.
        """
        _aware(now)
        refs = list(refs)
        with session_scope(self.engine) as s:
            for ref in refs:
                stmt = self._insert(s, Product).values(
                    target_id=target_id, frame=ref.frame, date1=ref.date1, date2=ref.date2,
                    status=ProductStatus.LISTED.value, attempts=0, unw_url=ref.unw.url,
                    size_bytes=ref.unw.size_bytes, last_modified=ref.unw.last_modified,
                    listed_at=now)
                s.execute(stmt.on_conflict_do_nothing(
                    index_elements=["target_id", "frame", "date1", "date2"]))
                self._requeue_if_republished(s, target_id, ref)
            keys = {(r.frame, r.date1, r.date2) for r in refs}
            due = self._due_products(s, target_id, now)
            return [p for p in due if (p.frame, p.date1, p.date2) in keys]

    def _requeue_if_republished(self, s: Session, target_id: str, ref: ProductRef) -> None:
        """A quarantined product whose phase file the archive now lists with another size
        or modification time was published again (a file caught mid-copy, a corrected
        product): it goes back to the queue, once per change of the file."""
        row = s.scalars(sa.select(Product).where(
            Product.target_id == target_id, Product.frame == ref.frame,
            Product.date1 == ref.date1, Product.date2 == ref.date2,
            Product.status == ProductStatus.QUARANTINED.value)).one_or_none()
        if row is None:
            return
        size, modified = ref.unw.size_bytes, ref.unw.last_modified
        changed = ((size is not None and size != row.size_bytes)
                   or (modified is not None and row.last_modified is not None
                       and modified != row.last_modified))
        if not changed:
            return
        row.status = ProductStatus.LISTED.value
        row.attempts = 0
        row.next_attempt_at = None
        row.size_bytes, row.last_modified = size, modified
        row.last_error = (f"re-queued: the archive lists a changed file (was quarantined: "
                          f"{row.last_error})")

    def _due_products(self, s: Session, target_id: str, now: datetime) -> list[Product]:
        stmt = (sa.select(Product)
                .where(Product.target_id == target_id, Product.status.in_(_RETRYABLE),
                       sa.or_(Product.next_attempt_at.is_(None),
                              Product.next_attempt_at <= now))
                .order_by(Product.date2, Product.date1, Product.frame))
        return list(s.scalars(stmt))

    def pending_products(self, target_id: str, now: datetime) -> list[Product]:
        """Products of the target not yet ingested and due at ``now``, by date pair."""
        _aware(now)
        with session_scope(self.engine) as s:
            return self._due_products(s, target_id, now)

    def get_product(self, target_id: str, frame: str, date1: date, date2: date) -> Product:
        """The product of this target, frame and date pair.

        Raises:
            InputError: no such product.
        """
        with session_scope(self.engine) as s:
            row = s.scalars(sa.select(Product).where(
                Product.target_id == target_id, Product.frame == frame,
                Product.date1 == date1, Product.date2 == date2)).one_or_none()
            if row is None:
                raise InputError(f"no product {date1:%Y%m%d}_{date2:%Y%m%d} of frame {frame} "
                                 f"for target {target_id!r} in the store")
            return row

    def newest_ingested(self, target_id: str) -> dict[str, tuple[date, datetime]]:
        """Per frame of the target: the latest acquisition date (``date2``) of its ingested
        products and when that product was ingested (archive lag, status page, metrics)."""
        with session_scope(self.engine) as s:
            rows = s.execute(
                sa.select(Product.frame, Product.date2, Product.ingested_at)
                .where(Product.target_id == target_id,
                       Product.status == ProductStatus.INGESTED.value,
                       Product.ingested_at.is_not(None))
                .order_by(Product.frame, Product.date2)).all()
        out: dict[str, tuple[date, datetime]] = {}
        for frame, date2, ingested_at in rows:
            if ingested_at is not None:  # filtered above; narrows the type
                out[frame] = (date2, ingested_at)  # ordered by date2: the last one wins
        return out

    def _product(self, s: Session, product_id: int) -> Product:
        row = s.get(Product, product_id, with_for_update=True)
        if row is None:
            raise InputError(f"product_id={product_id} does not exist in the store")
        return row

    def mark_product_fetched(self, product_id: int, checksum: str, now: datetime,
                             size_bytes: int | None = None) -> Product:
        """Record a complete, checksummed download; no change once fetched or ingested."""
        _aware(now)
        with session_scope(self.engine) as s:
            p = self._product(s, product_id)
            if p.status in (ProductStatus.FETCHED.value, ProductStatus.INGESTED.value):
                return p
            p.status = ProductStatus.FETCHED.value
            p.checksum = checksum
            p.fetched_at = now
            p.next_attempt_at = None
            if size_bytes is not None:
                p.size_bytes = size_bytes
            return p

    def mark_product_ingested(self, product_id: int, now: datetime) -> Product:
        """Record the product appended to the series; no change once ingested."""
        _aware(now)
        with session_scope(self.engine) as s:
            p = self._product(s, product_id)
            if p.status == ProductStatus.INGESTED.value:
                return p
            p.status = ProductStatus.INGESTED.value
            p.ingested_at = now
            p.next_attempt_at = None
            return p

    def mark_product_failed(self, product_id: int, error: str, now: datetime,
                            backoff: Backoff = Backoff()) -> Product:
        """Count a failed attempt, keep its reason, and schedule the retry with backoff.

        A product already ingested is left as it is.
        """
        _aware(now)
        with session_scope(self.engine) as s:
            p = self._product(s, product_id)
            if p.status == ProductStatus.INGESTED.value:
                return p
            p.attempts += 1
            p.status = ProductStatus.FAILED.value
            p.last_error = error
            p.next_attempt_at = now + backoff.delay(p.attempts)
            return p

    def quarantine_product(self, product_id: int, reason: str, now: datetime) -> Product:
        """Set a product aside for what it holds: not retried until re-queued
        (:meth:`requeue_product`); ``reason`` names the file and the check. A product
        already ingested is left as it is."""
        _aware(now)
        with session_scope(self.engine) as s:
            p = self._product(s, product_id)
            if p.status == ProductStatus.INGESTED.value:
                return p
            p.attempts += 1
            p.status = ProductStatus.QUARANTINED.value
            p.last_error = reason
            p.next_attempt_at = None
            return p

    def requeue_product(self, product_id: int, now: datetime) -> Product:
        """Make a quarantined or failed product due again at once (an operator's retry);
        ``last_error`` is kept until the next attempt replaces it.

        Raises:
            InputError: no such product, or it is already ingested.
        """
        _aware(now)
        with session_scope(self.engine) as s:
            p = self._product(s, product_id)
            if p.status == ProductStatus.INGESTED.value:
                raise InputError(f"product {product_id} ({p.frame} {p.date1:%Y%m%d}_"
                                 f"{p.date2:%Y%m%d}) is already ingested; nothing to retry")
            p.status = ProductStatus.LISTED.value
            p.attempts = 0
            p.next_attempt_at = None
            return p

    def list_products(self, target_id: str | None = None, *, frame: str | None = None,
                      status: str | None = None) -> list[Product]:
        """Products, by target, frame and date pair; optionally of one target, frame or
        status (a :class:`~monitor.domain.ProductStatus` value)."""
        stmt = sa.select(Product)
        if target_id is not None:
            stmt = stmt.where(Product.target_id == target_id)
        if frame is not None:
            stmt = stmt.where(Product.frame == frame)
        if status is not None:
            stmt = stmt.where(Product.status == status)
        with session_scope(self.engine) as s:
            return list(s.scalars(stmt.order_by(Product.target_id, Product.frame,
                                                Product.date1, Product.date2)))

    # -- epochs and scores -------------------------------------------------------------

    def record_epoch(self, target_id: str, epoch: date, n_products: int, segment: int,
                     series_file: str, cum_max_m: float | None) -> Epoch:
        """Insert the epoch or replace its values (they are deterministic)."""
        values = {"n_products": n_products, "segment": segment, "series_file": series_file,
                  "cum_max_m": cum_max_m}
        with session_scope(self.engine) as s:
            stmt = self._insert(s, Epoch).values(target_id=target_id, epoch=epoch, **values)
            s.execute(stmt.on_conflict_do_update(index_elements=["target_id", "epoch"],
                                                 set_=values))
            return s.scalars(sa.select(Epoch).where(
                Epoch.target_id == target_id, Epoch.epoch == epoch)).one()

    def list_epochs(self, target_id: str) -> list[Epoch]:
        """The target's epochs, oldest first."""
        with session_scope(self.engine) as s:
            return list(s.scalars(sa.select(Epoch).where(Epoch.target_id == target_id)
                                  .order_by(Epoch.epoch)))

    def record_score(self, target_id: str, epoch: date, *, p_fused: float | None,
                     p_by_gain: Mapping[str, float], model_sha256: str, code_version: str,
                     params: Mapping[str, Any], now: datetime,
                     peak_row: int | None = None, peak_col: int | None = None,
                     peak_lon: float | None = None, peak_lat: float | None = None,
                     lstt_p: float | None = None, lstt_pe: float | None = None,
                     lstt_by_reference: Mapping[str, Any] | None = None,
                     correction: ScoreCorrection | None = None,
                     signal: Mapping[str, Any] | None = None) -> Score:
        """Insert the epoch's score or replace its values; ``created_at`` of the first kept.

        Args:
            p_by_gain: Probability per gain, keys are the gains as strings (raw scores).
            lstt_by_reference: ``{reference: {"p": p-value, "pe": divergence}}``.
            model_sha256, code_version, params: Provenance.
            correction: The atmospheric correction of a flagged step and its rescoring
                (None: the step was not flagged, nothing was attempted).
            signal: What the time-series rule reads of the epoch (``bell_m``, ``step_m``,
                ``series``).
        """
        _aware(now)
        values: dict[str, Any] = {
            "p_fused": p_fused, "p_by_gain": dict(p_by_gain), "peak_row": peak_row,
            "peak_col": peak_col, "peak_lon": peak_lon, "peak_lat": peak_lat,
            "lstt_p": lstt_p, "lstt_pe": lstt_pe,
            "lstt_by_reference": dict(lstt_by_reference or {}),
            "model_sha256": model_sha256, "code_version": code_version,
            "params": dict(params),
            "p_fused_corrected": None if correction is None else correction.p_fused,
            "p_by_gain_corrected": None if correction is None or correction.p_by_gain is None
            else dict(correction.p_by_gain),
            "lstt_p_corrected": None if correction is None else correction.lstt_p,
            "correction_method": None if correction is None else correction.method,
            "correction": None if correction is None else dict(correction.details),
            "signal": None if signal is None else dict(signal)}
        with session_scope(self.engine) as s:
            stmt = self._insert(s, Score).values(target_id=target_id, epoch=epoch,
                                                 created_at=now, **values)
            s.execute(stmt.on_conflict_do_update(index_elements=["target_id", "epoch"],
                                                 set_=values))
            return s.scalars(sa.select(Score).where(
                Score.target_id == target_id, Score.epoch == epoch)).one()

    def get_score(self, target_id: str, epoch: date) -> Score | None:
        """The target's score at ``epoch``, or None when it has none."""
        with session_scope(self.engine) as s:
            return s.scalars(sa.select(Score).where(Score.target_id == target_id,
                                                    Score.epoch == epoch)).one_or_none()

    def latest_scores(self, target_id: str, n: int) -> list[Score]:
        """The ``n`` most recent scores of the target, oldest first."""
        if n < 0:
            raise InputError(f"n={n} must be >= 0")
        with session_scope(self.engine) as s:
            rows = list(s.scalars(sa.select(Score).where(Score.target_id == target_id)
                                  .order_by(Score.epoch.desc()).limit(n)))
            return rows[::-1]

    # -- alerts ------------------------------------------------------------------------

    def raise_alert(self, target_id: str, epoch: date, kind: str, level: AlertLevel,
                    message: str, now: datetime) -> Alert | None:
        """Insert the alert if none exists for (target, epoch, kind).

        Returns:
            The new alert, or None when it already existed (nothing is changed then).
        """
        _aware(now)
        with session_scope(self.engine) as s:
            stmt = (self._insert(s, Alert)
                    .values(target_id=target_id, epoch=epoch, kind=kind,
                            level=int(level), message=message, created_at=now)
                    .on_conflict_do_nothing(index_elements=["target_id", "epoch", "kind"])
                    .returning(Alert.id))
            new_id = s.execute(stmt).scalar_one_or_none()
            return None if new_id is None else s.get_one(Alert, new_id)

    def get_alert(self, alert_id: int) -> Alert:
        """The alert with this id.

        Raises:
            InputError: no such alert.
        """
        with session_scope(self.engine) as s:
            row = s.get(Alert, alert_id)
            if row is None:
                raise InputError(f"alert id {alert_id} does not exist; see "
                                 f"`insar-monitor alerts list`")
            return row

    def list_alerts(self, target_id: str | None = None,
                    unacknowledged_only: bool = False) -> list[Alert]:
        """Alerts, oldest first, optionally of one target and/or not yet acknowledged."""
        stmt = sa.select(Alert).order_by(Alert.epoch, Alert.id)
        if target_id is not None:
            stmt = stmt.where(Alert.target_id == target_id)
        if unacknowledged_only:
            stmt = stmt.where(Alert.acknowledged_at.is_(None))
        with session_scope(self.engine) as s:
            return list(s.scalars(stmt))

    def acknowledge_alert(self, alert_id: int, by: str, now: datetime) -> Alert:
        """Record who acknowledged the alert and when; a second call keeps the first.

        Raises:
            InputError: no such alert, or an empty ``by``.
        """
        _aware(now)
        if not by.strip():
            raise InputError(f"by={by!r}: say who acknowledges the alert")
        with session_scope(self.engine) as s:
            row = s.get(Alert, alert_id, with_for_update=True)
            if row is None:
                raise InputError(f"alert id {alert_id} does not exist; see "
                                 f"`insar-monitor alerts list`")
            if row.acknowledged_at is None:
                row.acknowledged_by = by
                row.acknowledged_at = now
            return row

    # -- deliveries (the outbox) -------------------------------------------------------

    def queue_deliveries(self, alert_id: int, recipients: Sequence[str], now: datetime,
                         channel: str = DEFAULT_CHANNEL) -> list[Delivery]:
        """Queue one delivery per recipient over ``channel`` (insert if absent); returns the
        new ones.

        Args:
            alert_id: The alert.
            recipients: E-mail addresses (``email``) or webhook names (``webhook``).
            now: Timezone-aware UTC; the deliveries are due at once.
            channel: The notifier channel that delivers them.

        Raises:
            InputError: no such alert, or an empty channel name.
        """
        _aware(now)
        if not channel or len(channel) > 16:
            raise InputError(f"channel={channel!r}: name the delivery channel (at most 16 "
                             "characters, e.g. 'email' or 'webhook')")
        with session_scope(self.engine) as s:
            if s.get(Alert, alert_id) is None:
                raise InputError(f"alert id {alert_id} does not exist; cannot queue "
                                 f"deliveries for it")
            new_ids: list[int] = []
            for recipient in dict.fromkeys(recipients):
                stmt = (self._insert(s, Delivery)
                        .values(alert_id=alert_id, channel=channel, recipient=recipient,
                                status=DELIVERY_QUEUED, attempts=0, next_attempt_at=now,
                                created_at=now)
                        .on_conflict_do_nothing(
                            index_elements=["alert_id", "channel", "recipient"])
                        .returning(Delivery.id))
                new_id = s.execute(stmt).scalar_one_or_none()
                if new_id is not None:
                    new_ids.append(new_id)
            return [s.get_one(Delivery, i) for i in new_ids]

    def pending_deliveries(self, now: datetime) -> list[Delivery]:
        """Deliveries due at ``now`` (queued, or retrying with the backoff expired), in
        the order they were queued (a claim or a backoff does not move one back)."""
        _aware(now)
        stmt = (sa.select(Delivery)
                .where(Delivery.status.in_(DELIVERY_WAITING),
                       Delivery.next_attempt_at.is_not(None),
                       Delivery.next_attempt_at <= now)
                .order_by(Delivery.id))
        with session_scope(self.engine) as s:
            return list(s.scalars(stmt))

    def claim_delivery(self, delivery_id: int, now: datetime, lease_s: float) -> bool:
        """Take a due delivery for one attempt: its ``next_attempt_at`` moves to ``now +
        lease_s`` in one conditional UPDATE, so another pass (a thread, another process)
        that read the same due row gets False and leaves it alone. A pass that dies after
        claiming leaves the row due again once the lease has run out (at least once).

        Returns:
            True when this call claimed it; False when it is no longer due at ``now``
            (sent, failed, or claimed by someone else).
        """
        _aware(now)
        if not lease_s > 0:
            raise InputError(f"lease_s={lease_s!r} must be > 0 seconds")
        with session_scope(self.engine) as s:
            result = s.execute(
                sa.update(Delivery)
                .where(Delivery.id == delivery_id, Delivery.status.in_(DELIVERY_WAITING),
                       Delivery.next_attempt_at.is_not(None),
                       Delivery.next_attempt_at <= now)
                .values(next_attempt_at=now + timedelta(seconds=lease_s))
                .execution_options(synchronize_session=False))
            return bool(getattr(result, "rowcount", 0) == 1)

    def _delivery(self, s: Session, delivery_id: int) -> Delivery:
        row = s.get(Delivery, delivery_id, with_for_update=True)
        if row is None:
            raise InputError(f"delivery id {delivery_id} does not exist in the store; see "
                             "`insar-monitor outbox list --config FILE`")
        return row

    def get_delivery(self, delivery_id: int) -> Delivery:
        """The delivery with this id.

        Raises:
            InputError: no such delivery.
        """
        with session_scope(self.engine) as s:
            row = s.get(Delivery, delivery_id)
            if row is None:
                raise InputError(f"delivery id {delivery_id} does not exist in the store; "
                                 "see `insar-monitor outbox list --config FILE`")
            return row

    def mark_delivery_sent(self, delivery_id: int, now: datetime) -> Delivery:
        """Record the email accepted by the server; no change once sent."""
        _aware(now)
        with session_scope(self.engine) as s:
            d = self._delivery(s, delivery_id)
            if d.status == DELIVERY_SENT:
                return d
            d.attempts += 1
            d.status = DELIVERY_SENT
            d.sent_at = now
            d.next_attempt_at = None
            return d

    def mark_delivery_failed(self, delivery_id: int, error: str, now: datetime,
                             backoff: Backoff = Backoff(),
                             max_attempts: int | None = None, *,
                             permanent: bool = False) -> Delivery:
        """Count a failed attempt, keep its reason and schedule the retry.

        A retryable failure leaves the delivery ``retrying``, due again after
        ``backoff.delay(attempts)``, with no limit on attempts unless ``max_attempts`` is
        given. A ``permanent`` one (or the ``max_attempts``-th) makes it ``failed`` with
        no retry scheduled: it leaves the outbox, is counted by :meth:`failed_count` and
        waits for :meth:`requeue_deliveries`.
        """
        _aware(now)
        if max_attempts is not None and max_attempts < 1:
            raise InputError(f"max_attempts={max_attempts} must be >= 1 or None")
        with session_scope(self.engine) as s:
            d = self._delivery(s, delivery_id)
            if d.status == DELIVERY_SENT:
                return d
            d.attempts += 1
            d.last_error = error
            give_up = permanent or (max_attempts is not None and d.attempts >= max_attempts)
            d.status = DELIVERY_FAILED if give_up else DELIVERY_RETRYING
            d.next_attempt_at = None if give_up else now + backoff.delay(d.attempts)
            return d

    def _waiting(self, channel: str | None) -> sa.ColumnElement[bool]:
        cond = sa.and_(Delivery.status.in_(DELIVERY_WAITING),
                       Delivery.next_attempt_at.is_not(None))
        return cond if channel is None else sa.and_(cond, Delivery.channel == channel)

    def _failed(self, channel: str | None) -> sa.ColumnElement[bool]:
        cond = sa.and_(Delivery.status == DELIVERY_FAILED, Delivery.next_attempt_at.is_(None))
        return cond if channel is None else sa.and_(cond, Delivery.channel == channel)

    def outbox_depth(self, channel: str | None = None) -> int:
        """Deliveries still to be sent (queued or retrying), of one channel or (None) of
        all."""
        stmt = sa.select(sa.func.count()).select_from(Delivery).where(self._waiting(channel))
        with session_scope(self.engine) as s:
            return int(s.execute(stmt).scalar_one())

    def failed_count(self, channel: str | None = None) -> int:
        """Deliveries that failed permanently and wait for an operator (``outbox retry``),
        of one channel or (None) of all."""
        stmt = sa.select(sa.func.count()).select_from(Delivery).where(self._failed(channel))
        with session_scope(self.engine) as s:
            return int(s.execute(stmt).scalar_one())

    def oldest_waiting(self, channel: str | None = None) -> datetime | None:
        """When the oldest delivery still in the outbox was queued (None: the outbox is
        empty): how long the outbox has been failing to get it out."""
        stmt = sa.select(sa.func.min(Delivery.created_at)).where(self._waiting(channel))
        with session_scope(self.engine) as s:
            value = s.execute(stmt).scalar_one_or_none()
        if value is None:
            return None
        if isinstance(value, str):  # SQLite's min() of the column comes back as text
            value = datetime.fromisoformat(value)
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)

    def list_deliveries(self, *, alert_ids: Iterable[int] | None = None,
                        failed_only: bool = False) -> list[Delivery]:
        """Deliveries by alert and id, of some alerts (None: all), optionally only those
        that failed permanently."""
        stmt = sa.select(Delivery).order_by(Delivery.alert_id, Delivery.id)
        if alert_ids is not None:
            stmt = stmt.where(Delivery.alert_id.in_(list(alert_ids)))
        if failed_only:
            stmt = stmt.where(self._failed(None))
        with session_scope(self.engine) as s:
            return list(s.scalars(stmt))

    def requeue_deliveries(self, now: datetime, *, delivery_ids: Sequence[int] = (),
                           alert_id: int | None = None,
                           all_failed: bool = False) -> list[Delivery]:
        """Make deliveries due at ``now`` again (``insar-monitor outbox retry``).

        ``delivery_ids`` and ``alert_id`` re-queue those deliveries that are not sent
        (failed permanently or retrying: a retrying one is tried at once instead of after
        its backoff); ``all_failed`` every permanently failed one. Attempts and the last
        error are kept (they say what happened); the status becomes ``queued``.

        Returns:
            The re-queued deliveries, by id (sent ones are left out).

        Raises:
            InputError: A delivery id or the alert id does not exist, or nothing was chosen.
        """
        _aware(now)
        if not delivery_ids and alert_id is None and not all_failed:
            raise InputError("requeue_deliveries: name delivery ids, an alert id or "
                             "all_failed=True")
        with session_scope(self.engine) as s:
            for i in delivery_ids:
                self._delivery(s, i)
            if alert_id is not None and s.get(Alert, alert_id) is None:
                raise InputError(f"alert id {alert_id} does not exist; see "
                                 "`insar-monitor alerts list`")
            chosen: list[sa.ColumnElement[bool]] = []
            if delivery_ids:
                chosen.append(Delivery.id.in_(list(delivery_ids)))
            if alert_id is not None:
                chosen.append(Delivery.alert_id == alert_id)
            if all_failed:
                chosen.append(self._failed(None))
            rows = list(s.scalars(
                sa.select(Delivery).where(sa.or_(*chosen), Delivery.status != DELIVERY_SENT)
                .order_by(Delivery.id).with_for_update()))
            for d in rows:
                d.status = DELIVERY_QUEUED
                d.next_attempt_at = now
            return rows
