"""The record: conversations, messages, events, replies, contacts, erasures, and the search index.

Revision ID: 0001
Revises:
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "conversations",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("num", sa.BigInteger, nullable=False, unique=True),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("thread_key", sa.String(256), nullable=False),
        sa.Column("contact_id", sa.String(256), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("priority", sa.String(16), nullable=False),
        sa.Column("team", sa.String(64)),
        sa.Column("assignee", sa.String(64)),
        sa.Column("handler", sa.String(96)),
        sa.Column("labels", sa.Text, nullable=False),
        sa.Column("language", sa.String(16)),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Column("first_response_at", sa.BigInteger),
        sa.Column("resolved_at", sa.BigInteger),
        sa.Column("message_count", sa.Integer, nullable=False),
        sa.Column("rev", sa.BigInteger, nullable=False),
        sa.Column("archived_events", sa.Integer, nullable=False),
        sa.Column("archived_messages", sa.Integer, nullable=False),
        sa.Column("last_score", sa.BigInteger, nullable=False),
        sa.Column("fields", sa.Text, nullable=False),
        sa.Column("document", sa.Text, nullable=False),
    )
    op.create_index("conversations_updated", "conversations", ["updated_at"])
    op.create_index("conversations_contact", "conversations", ["contact_id", "updated_at"])
    op.create_index("conversations_team", "conversations", ["team", "updated_at"])
    op.create_table(
        "messages",
        sa.Column("conversation_id", sa.String(32), primary_key=True),
        sa.Column("seq", sa.BigInteger, primary_key=True),
        sa.Column("message_id", sa.String(128), nullable=False),
        sa.Column("author_id", sa.String(128), nullable=False),
        sa.Column("author_handle", sa.String(256), nullable=False),
        sa.Column("author_name", sa.String(256), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("language", sa.String(16)),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("raw", sa.Text, nullable=False),
    )
    op.create_table(
        "events",
        sa.Column("conversation_id", sa.String(32), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(96), nullable=False),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("raw", sa.Text, nullable=False),
    )
    op.create_table(
        "replies",
        sa.Column("reply_id", sa.String(200), primary_key=True),
        sa.Column("conversation_id", sa.String(32), nullable=False, server_default=""),
        sa.Column("sender", sa.String(96), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("private", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("platform_ids", sa.Text, nullable=False),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_index("replies_conversation", "replies", ["conversation_id"])
    op.create_table(
        "contacts",
        sa.Column("id", sa.String(256), primary_key=True),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("handle", sa.String(256), nullable=False),
        sa.Column("display_name", sa.String(256), nullable=False),
        sa.Column("language", sa.String(16)),
        sa.Column("last_agent", sa.String(64)),
    )
    op.create_table(
        "erasures",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("erased_at", sa.BigInteger, nullable=False),
        sa.Column("operator", sa.String(128), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("conversations", sa.Integer, nullable=False),
        sa.Column("messages", sa.Integer, nullable=False),
        sa.Column("forced", sa.Boolean, nullable=False),
    )
    if op.get_bind().dialect.name == "sqlite":
        # Tokens are ours (`archive/tokens.py`), separated by spaces: FTS5 only splits and matches them.
        op.execute(
            "CREATE VIRTUAL TABLE conversation_search USING fts5(document, tokenize = 'unicode61 remove_diacritics 0')"
        )
    else:
        op.execute(
            "ALTER TABLE conversations ADD COLUMN search tsvector GENERATED ALWAYS AS "
            "(array_to_tsvector(string_to_array(document, ' '))) STORED"
        )
        op.execute("CREATE INDEX conversations_search ON conversations USING gin (search)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE conversation_search")
    for table in ("erasures", "contacts", "replies", "events", "messages", "conversations"):
        op.drop_table(table)
