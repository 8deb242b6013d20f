"""The record keeps each partition's highest conversation id seq (`archive/counters.py`), so
Redis's id counters can be raised to it after Redis was emptied or restored from an older
snapshot. The marks of the conversations already in the record are written here.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_CHUNK = 50_000


def upgrade() -> None:
    bind = op.get_bind()
    table = op.create_table(
        "conversation_seqs",
        sa.Column("partition_number", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
    )
    conversations = sa.table("conversations", sa.column("id", sa.String))
    marks: dict[int, int] = {}
    after = ""
    while True:  # in id order, a chunk at a time: a large record is not read into memory at once
        ids = (
            bind.execute(
                sa.select(conversations.c.id)
                .where(conversations.c.id > after)
                .order_by(conversations.c.id)
                .limit(_CHUNK)
            )
            .scalars()
            .all()
        )
        if not ids:
            break
        for cid in ids:
            head, _, seq = cid.partition("-")
            marks[int(head)] = max(marks.get(int(head), 0), int(seq))
        after = ids[-1]
    if marks:
        bind.execute(sa.insert(table), [{"partition_number": p, "seq": n} for p, n in sorted(marks.items())])


def downgrade() -> None:
    op.drop_table("conversation_seqs")
