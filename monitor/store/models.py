"""SQLAlchemy 2 models of the watch: targets, products, epochs, scores, alerts, deliveries.

Datetimes are stored as ``DateTime(timezone=True)`` through :class:`UTCDateTime`, which
refuses naive values on the way in and returns timezone-aware UTC values on the way out
(SQLite keeps no zone and gives naive datetimes back; PostgreSQL gives the session zone).
Acquisition epochs are plain dates. The schema is created by the Alembic migrations in
``migrations/``; a test checks that they match these models.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

#: Deterministic constraint names, identical on SQLite and PostgreSQL (Alembic needs names).
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: Delivery states of the outbox: ``queued`` (due at ``next_attempt_at``, not yet tried
#: or re-queued by ``outbox retry``), ``retrying`` (a retryable failure; tried again at
#: ``next_attempt_at``, forever), ``sent``, ``failed`` (a permanent failure: no
#: ``next_attempt_at``; waits for ``insar-monitor outbox retry``). Rows written before
#: ``retrying`` existed say ``failed`` with a ``next_attempt_at``: they are retrying.
DELIVERY_QUEUED = "queued"
DELIVERY_RETRYING = "retrying"
DELIVERY_SENT = "sent"
DELIVERY_FAILED = "failed"
#: States of a delivery still in the outbox (with a ``next_attempt_at``).
DELIVERY_WAITING = (DELIVERY_QUEUED, DELIVERY_RETRYING, DELIVERY_FAILED)


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """``DateTime(timezone=True)`` that only accepts and only returns aware UTC datetimes."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"datetime {value!r} is naive; the store needs timezone-aware UTC")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None,
                             dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base; its metadata is what the migrations must produce."""

    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: sa.JSON()}


class Target(Base):
    """A watched volcano: id (GVP number or slug), name, centre and radius."""

    __tablename__ = "targets"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    lon: Mapped[float] = mapped_column(sa.Float)
    lat: Mapped[float] = mapped_column(sa.Float)
    radius_km: Mapped[float] = mapped_column(sa.Float)
    created_at: Mapped[datetime]


class Product(Base):
    """One interferogram of a target (unique per target, frame and date pair)."""

    __tablename__ = "products"
    __table_args__ = (sa.UniqueConstraint("target_id", "frame", "date1", "date2",
                                          name="uq_products_target_frame_pair"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    target_id: Mapped[str] = mapped_column(sa.ForeignKey("targets.id", ondelete="CASCADE"))
    frame: Mapped[str] = mapped_column(sa.String(32))
    date1: Mapped[date] = mapped_column(sa.Date)
    date2: Mapped[date] = mapped_column(sa.Date)
    #: A :class:`monitor.domain.ProductStatus` value.
    status: Mapped[str] = mapped_column(sa.String(16))
    #: Failed attempts so far (drives the backoff).
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    #: sha256 (hex) of the unwrapped-phase file.
    checksum: Mapped[str | None] = mapped_column(sa.String(64))
    unw_url: Mapped[str] = mapped_column(sa.Text)
    size_bytes: Mapped[int | None] = mapped_column(sa.BigInteger)
    last_modified: Mapped[datetime | None]
    listed_at: Mapped[datetime]
    fetched_at: Mapped[datetime | None]
    ingested_at: Mapped[datetime | None]
    #: Earliest time of the next try after a failure (None: due now).
    next_attempt_at: Mapped[datetime | None]


class Epoch(Base):
    """One epoch of a target's cumulative series (the arrays live on disk)."""

    __tablename__ = "epochs"
    __table_args__ = (sa.UniqueConstraint("target_id", "epoch", name="uq_epochs_target_epoch"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    target_id: Mapped[str] = mapped_column(sa.ForeignKey("targets.id", ondelete="CASCADE"))
    epoch: Mapped[date] = mapped_column(sa.Date)
    n_products: Mapped[int] = mapped_column(sa.Integer)
    #: Connected segment of the interferogram network the epoch belongs to.
    segment: Mapped[int] = mapped_column(sa.Integer)
    series_file: Mapped[str] = mapped_column(sa.Text)
    #: Largest absolute cumulative LOS displacement over the target (metres).
    cum_max_m: Mapped[float | None] = mapped_column(sa.Float)


class Score(Base):
    """Scores of one epoch: CNN P per gain and fused, peak, LSTT, and provenance."""

    __tablename__ = "scores"
    __table_args__ = (sa.UniqueConstraint("target_id", "epoch", name="uq_scores_target_epoch"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    target_id: Mapped[str] = mapped_column(sa.ForeignKey("targets.id", ondelete="CASCADE"))
    epoch: Mapped[date] = mapped_column(sa.Date)
    p_fused: Mapped[float | None] = mapped_column(sa.Float)
    #: ``{"1": P, "2": P, ...}``: probability per re-wrapping gain.
    p_by_gain: Mapped[dict[str, Any]]
    peak_row: Mapped[int | None] = mapped_column(sa.Integer)
    peak_col: Mapped[int | None] = mapped_column(sa.Integer)
    peak_lon: Mapped[float | None] = mapped_column(sa.Float)
    peak_lat: Mapped[float | None] = mapped_column(sa.Float)
    #: Combined LSTT p-value (largest over references) and Pearson divergence.
    lstt_p: Mapped[float | None] = mapped_column(sa.Float)
    lstt_pe: Mapped[float | None] = mapped_column(sa.Float)
    #: ``{reference name: {"p": ..., "pe": ...}}``.
    lstt_by_reference: Mapped[dict[str, Any]]
    model_sha256: Mapped[str] = mapped_column(sa.String(64))
    code_version: Mapped[str] = mapped_column(sa.String(64))
    params: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    #: Rescoring of a flagged step after atmospheric correction (None: not corrected).
    p_fused_corrected: Mapped[float | None] = mapped_column(sa.Float)
    p_by_gain_corrected: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    lstt_p_corrected: Mapped[float | None] = mapped_column(sa.Float)
    #: ``gacos``, ``icams`` or ``empirical`` when a correction was applied, ``none`` when
    #: one was attempted and none could be made, None when the step was not flagged.
    correction_method: Mapped[str | None] = mapped_column(sa.String(16))
    #: What was done: coefficients, files, fallbacks and their reasons (see
    #: :mod:`monitor.service.correction`).
    correction: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    #: What the time-series rule reads of the epoch (migration 0003):
    #: ``{"bell_m", "step_m", "series"}`` (:mod:`monitor.science.series_signal`).
    signal: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)

    @property
    def corrected(self) -> bool:
        """Whether the step was rescored after an atmospheric correction."""
        return self.correction_method not in (None, "none")

    @property
    def decision_p_fused(self) -> float | None:
        """The fused P the alert policy decides on: corrected when a correction was made."""
        return self.p_fused_corrected if self.corrected else self.p_fused

    @property
    def decision_lstt_p(self) -> float | None:
        """The LSTT p-value the policy decides on (corrected when a correction was made)."""
        return self.lstt_p_corrected if self.corrected else self.lstt_p

    @property
    def decision_note(self) -> str:
        """One sentence saying which scores the policy decided on for this epoch (alert
        log lines and e-mail)."""
        raw = "n/a" if self.p_fused is None else f"{self.p_fused:.2f}"
        if self.corrected:
            p = self.p_fused_corrected
            return (f"decided on atmosphere-corrected scores ({self.correction_method}): "
                    f"P {raw} raw, {'n/a' if p is None else f'{p:.2f}'} corrected")
        if self.correction_method == "none":
            reason = (self.correction or {}).get("reason", "unknown")
            return (f"decided on raw scores (P {raw}): no atmospheric correction possible "
                    f"({reason})")
        return f"decided on raw scores (P {raw})"


class Alert(Base):
    """An alert (unique per target, epoch and kind); level is a ``AlertLevel`` value.

    ``kind`` is ``deformation`` when the policy raised a level (``level`` is that level)
    and ``cleared`` when a raised level fell back to none (``level`` is 0; the message
    says which level cleared and why), see :mod:`monitor.domain`.
    """

    __tablename__ = "alerts"
    __table_args__ = (sa.UniqueConstraint("target_id", "epoch", "kind",
                                          name="uq_alerts_target_epoch_kind"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    target_id: Mapped[str] = mapped_column(sa.ForeignKey("targets.id", ondelete="CASCADE"))
    epoch: Mapped[date] = mapped_column(sa.Date)
    kind: Mapped[str] = mapped_column(sa.String(32))
    level: Mapped[int] = mapped_column(sa.Integer)
    message: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime]
    acknowledged_by: Mapped[str | None] = mapped_column(sa.String(200))
    acknowledged_at: Mapped[datetime | None]


#: Channel of the deliveries written before channels existed (migration 0004).
DEFAULT_CHANNEL = "email"


class Delivery(Base):
    """One delivery of an alert over one channel to one recipient (the outbox row)."""

    __tablename__ = "deliveries"
    __table_args__ = (sa.UniqueConstraint("alert_id", "channel", "recipient",
                                          name="uq_deliveries_alert_channel_recipient"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[int] = mapped_column(sa.ForeignKey("alerts.id", ondelete="CASCADE"))
    #: The :class:`~monitor.ports.Notifier` channel: ``email`` or ``webhook``.
    channel: Mapped[str] = mapped_column(sa.String(16), server_default=DEFAULT_CHANNEL)
    #: An e-mail address (``email``) or a webhook's ``[webhooks.NAME]`` name (``webhook``).
    recipient: Mapped[str] = mapped_column(sa.String(320))
    #: ``queued``, ``retrying``, ``sent`` or ``failed`` (see :data:`DELIVERY_QUEUED`).
    status: Mapped[str] = mapped_column(sa.String(16))
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    #: When the next try is due; None once sent or failed permanently.
    next_attempt_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
