"""SQLite: the search index's row ids follow the newest-first order.

FTS5 hands out its matches in row-id order and stops at the page's end, so with a row id of
`updated_at` in the high bits (`schema.SEARCH_ORDER_BITS`) and a tie number in the low ones, a
search reads only the newest matches instead of every match before sorting them. PostgreSQL
keeps its ids (its index is a column of the conversation row).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    # 20: schema.SEARCH_ORDER_BITS when this revision was written. Old ids (partition << 40 | sequence)
    # are far below the new ones: no transient duplicate.
    op.execute(
        "UPDATE conversations SET num = (conversations.updated_at << 20) + ranked.tie FROM "
        "(SELECT id, row_number() OVER (PARTITION BY updated_at ORDER BY id) - 1 AS tie "
        "FROM conversations) AS ranked WHERE ranked.id = conversations.id"
    )
    op.execute("DELETE FROM conversation_search")
    op.execute("INSERT INTO conversation_search(rowid, document) SELECT num, document FROM conversations")


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute(
        "UPDATE conversations SET num = (CAST(substr(id, 1, instr(id, '-') - 1) AS INTEGER) << 40) "
        "| CAST(substr(id, instr(id, '-') + 1) AS INTEGER)"
    )
    op.execute("DELETE FROM conversation_search")
    op.execute("INSERT INTO conversation_search(rowid, document) SELECT num, document FROM conversations")
