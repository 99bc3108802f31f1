"""Scores keep the atmosphere-corrected rescoring of flagged steps beside the raw one.

A flagged step is corrected for stratified tropospheric delay (the archive's weather-model
delays, or a phase-elevation fit) and scored again (issue 6, Anantrasirichai et al. 2019a,
section 5). The raw columns stay what the detector said of the data; these columns hold the
corrected scores, the correction used and its fitted coefficients, or why no correction
could be made.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("scores") as batch:
        batch.add_column(sa.Column("p_fused_corrected", sa.Float(), nullable=True))
        batch.add_column(sa.Column("p_by_gain_corrected", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("lstt_p_corrected", sa.Float(), nullable=True))
        batch.add_column(sa.Column("correction_method", sa.String(16), nullable=True))
        batch.add_column(sa.Column("correction", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("scores") as batch:
        for name in ("correction", "correction_method", "lstt_p_corrected",
                     "p_by_gain_corrected", "p_fused_corrected"):
            batch.drop_column(name)
