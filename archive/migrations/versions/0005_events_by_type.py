"""Events indexed by (type, at): the KB gaps report reads the bot's handoffs of a date range.

Without it the query scanned every event of the record (tens of millions at a million
conversations) to find the few handoffs of the range.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("events_type_at", "events", ["type", "at"])


def downgrade() -> None:
    op.drop_index("events_type_at", table_name="events")
