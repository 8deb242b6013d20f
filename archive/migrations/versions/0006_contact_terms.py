"""Contacts found by a prefix of their handle, name, e-mail, platform id or id (`contact_terms`),
so an agent can link a contact whose conversations have left Redis. The terms of the contacts
already in the record are written here.

The term column compares in binary (code point) order on both engines, so a prefix is a range of
the primary key: SQLite's default collation is binary; PostgreSQL's column takes the "C" collation
(the database's own may be a locale's, in which a range is not a prefix).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from helpline.archive.contact_terms import terms

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_CHUNK = 5000


def upgrade() -> None:
    bind = op.get_bind()
    collation = "C" if bind.dialect.name == "postgresql" else None
    table = op.create_table(
        "contact_terms",
        sa.Column("term", sa.String(256, collation=collation), primary_key=True),
        sa.Column("contact_id", sa.String(256), primary_key=True),
    )
    op.create_index("contact_terms_contact", "contact_terms", ["contact_id"])
    contacts = sa.table(
        "contacts",
        sa.column("id", sa.String),
        sa.column("handle", sa.String),
        sa.column("display_name", sa.String),
        sa.column("email", sa.String),
        sa.column("user_id", sa.String),
    )
    after = ""
    while True:  # in id order, a chunk at a time: a large record is not read into memory at once
        rows = bind.execute(
            sa.select(contacts).where(contacts.c.id > after).order_by(contacts.c.id).limit(_CHUNK)
        ).all()
        if not rows:
            break
        found = [{"term": t, "contact_id": r.id} for r in rows for t in sorted(terms(r._mapping))]
        if found:
            bind.execute(sa.insert(table), found)
        after = rows[-1].id


def downgrade() -> None:
    op.drop_index("contact_terms_contact", table_name="contact_terms")
    op.drop_table("contact_terms")
