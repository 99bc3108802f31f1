"""Deliveries name their channel: the outbox carries e-mail and webhooks.

An alert is delivered over several channels (step 9: e-mail to each recipient, a signed
JSON POST to each webhook), all through the one outbox with its retries and backoff. Each
row says its channel; the recipient is an e-mail address or a webhook's name. The unique
key becomes (alert, channel, recipient), so queueing stays idempotent per channel. Rows
written before this revision were all e-mail and get ``email``.

Revision ID: 0004
Revises: 0003
Create Date: 2027-01-10
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("channel", sa.String(16), nullable=False,
                                   server_default="email"))
        batch.drop_constraint("uq_deliveries_alert_recipient", type_="unique")
        batch.create_unique_constraint("uq_deliveries_alert_channel_recipient",
                                       ["alert_id", "channel", "recipient"])


def downgrade() -> None:
    # The old key has room for one channel only: other channels' rows go.
    op.execute(sa.text("DELETE FROM deliveries WHERE channel <> 'email'"))
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_constraint("uq_deliveries_alert_channel_recipient", type_="unique")
        batch.create_unique_constraint("uq_deliveries_alert_recipient",
                                       ["alert_id", "recipient"])
        batch.drop_column("channel")
