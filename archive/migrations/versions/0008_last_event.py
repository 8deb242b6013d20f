"""Each conversation's row keeps the sha1 of the last event it archived (`last_event`): the
archiver compares it with the event Redis holds at that place, so a conversation Redis holds from
an older snapshot is found even when it has as many events and as high a version as the record
(the same kind of changes made again since the restore; `archive/rewind.py`).

Rows archived before have "" (no check beyond the version and the event count) until their
conversation is archived again. A constant default: no rewrite of the table on PostgreSQL.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("last_event", sa.String(40), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("last_event")
