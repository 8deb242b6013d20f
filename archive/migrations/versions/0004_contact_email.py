"""Contacts keep the e-mail address a customer left for our answer (a web chat visitor off hours).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("contacts", sa.Column("email", sa.String(254)))


def downgrade() -> None:
    with op.batch_alter_table("contacts") as batch:  # SQLite rebuilds the table to drop a column
        batch.drop_column("email")
