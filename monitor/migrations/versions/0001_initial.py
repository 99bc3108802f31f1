"""Initial schema: targets, products, epochs, scores, alerts, deliveries.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "targets",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("radius_km", sa.Float(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_targets"),
    )
    op.create_table(
        "products",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("target_id", sa.String(64), nullable=False),
        sa.Column("frame", sa.String(32), nullable=False),
        sa.Column("date1", sa.Date(), nullable=False),
        sa.Column("date2", sa.Date(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("checksum", sa.String(64), nullable=True),
        sa.Column("unw_url", sa.Text(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("last_modified", UTC_DATETIME, nullable=True),
        sa.Column("listed_at", UTC_DATETIME, nullable=False),
        sa.Column("fetched_at", UTC_DATETIME, nullable=True),
        sa.Column("ingested_at", UTC_DATETIME, nullable=True),
        sa.Column("next_attempt_at", UTC_DATETIME, nullable=True),
        sa.ForeignKeyConstraint(["target_id"], ["targets.id"], ondelete="CASCADE",
                                name="fk_products_target_id_targets"),
        sa.PrimaryKeyConstraint("id", name="pk_products"),
        sa.UniqueConstraint("target_id", "frame", "date1", "date2",
                            name="uq_products_target_frame_pair"),
    )
    op.create_table(
        "epochs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("target_id", sa.String(64), nullable=False),
        sa.Column("epoch", sa.Date(), nullable=False),
        sa.Column("n_products", sa.Integer(), nullable=False),
        sa.Column("segment", sa.Integer(), nullable=False),
        sa.Column("series_file", sa.Text(), nullable=False),
        sa.Column("cum_max_m", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["target_id"], ["targets.id"], ondelete="CASCADE",
                                name="fk_epochs_target_id_targets"),
        sa.PrimaryKeyConstraint("id", name="pk_epochs"),
        sa.UniqueConstraint("target_id", "epoch", name="uq_epochs_target_epoch"),
    )
    op.create_table(
        "scores",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("target_id", sa.String(64), nullable=False),
        sa.Column("epoch", sa.Date(), nullable=False),
        sa.Column("p_fused", sa.Float(), nullable=True),
        sa.Column("p_by_gain", sa.JSON(), nullable=False),
        sa.Column("peak_row", sa.Integer(), nullable=True),
        sa.Column("peak_col", sa.Integer(), nullable=True),
        sa.Column("peak_lon", sa.Float(), nullable=True),
        sa.Column("peak_lat", sa.Float(), nullable=True),
        sa.Column("lstt_p", sa.Float(), nullable=True),
        sa.Column("lstt_pe", sa.Float(), nullable=True),
        sa.Column("lstt_by_reference", sa.JSON(), nullable=False),
        sa.Column("model_sha256", sa.String(64), nullable=False),
        sa.Column("code_version", sa.String(64), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(["target_id"], ["targets.id"], ondelete="CASCADE",
                                name="fk_scores_target_id_targets"),
        sa.PrimaryKeyConstraint("id", name="pk_scores"),
        sa.UniqueConstraint("target_id", "epoch", name="uq_scores_target_epoch"),
    )
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("target_id", sa.String(64), nullable=False),
        sa.Column("epoch", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("acknowledged_by", sa.String(200), nullable=True),
        sa.Column("acknowledged_at", UTC_DATETIME, nullable=True),
        sa.ForeignKeyConstraint(["target_id"], ["targets.id"], ondelete="CASCADE",
                                name="fk_alerts_target_id_targets"),
        sa.PrimaryKeyConstraint("id", name="pk_alerts"),
        sa.UniqueConstraint("target_id", "epoch", "kind", name="uq_alerts_target_epoch_kind"),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("recipient", sa.String(320), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", UTC_DATETIME, nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("sent_at", UTC_DATETIME, nullable=True),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"], ondelete="CASCADE",
                                name="fk_deliveries_alert_id_alerts"),
        sa.PrimaryKeyConstraint("id", name="pk_deliveries"),
        sa.UniqueConstraint("alert_id", "recipient", name="uq_deliveries_alert_recipient"),
    )


def downgrade() -> None:
    for table in ("deliveries", "alerts", "scores", "epochs", "products", "targets"):
        op.drop_table(table)
