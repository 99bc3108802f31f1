"""Scores keep what the time-series rule reads of each epoch.

The alert policy judges each epoch with the epochs before it (issue 8): the bell
amplitude of the cumulative map over the target, the step of the newest interferogram and
the series (frame and chain segment) the epoch belongs to. Rows scored before this
revision have none (NULL) and the time-series rule skips them.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("scores") as batch:
        batch.add_column(sa.Column("signal", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("scores") as batch:
        batch.drop_column("signal")
