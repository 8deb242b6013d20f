"""Conversations indexed by (updated_at, id), the newest-first order with its tie-break.

The index on `updated_at` alone made every listing and PostgreSQL's search sort each group of
conversations updated in the same millisecond (a router commits a batch at one time): a search
walking newest first checked hundreds of conversations per step instead of the next few.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("conversations_newest", "conversations", ["updated_at", "id"])
    op.drop_index("conversations_updated", table_name="conversations")


def downgrade() -> None:
    op.create_index("conversations_updated", "conversations", ["updated_at"])
    op.drop_index("conversations_newest", table_name="conversations")
