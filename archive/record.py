"""Writing the record: idempotent batched upserts keyed by stable ids (see `schema.py`).

Every write is a whole batch in one transaction: a crash leaves the record as it was before the
batch or after it, and a replay of the batch writes the same rows again (never a second row).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from .database import Database
from .schema import contacts, conversations, events, messages, replies

Row = dict[str, Any]
# Replies are written from two sources that never overwrite each other's columns: the event that
# queued the reply (what was said) and the delivery record (what became of it).
REPLY_CONTENT = ("conversation_id", "sender", "text", "private", "created_at")
REPLY_DELIVERY = ("state", "platform_ids", "error", "updated_at")
_UPSERT_BATCH = 2000


@dataclass(frozen=True, slots=True)
class Cursor:
    """How much of a conversation the record holds."""

    rev: int
    archived_events: int
    archived_messages: int
    last_score: int
    document: str


@dataclass
class Batch:
    """Rows to write together."""

    conversations: list[Row] = field(default_factory=list)
    messages: list[Row] = field(default_factory=list)
    events: list[Row] = field(default_factory=list)
    reply_contents: list[Row] = field(default_factory=list)
    reply_deliveries: list[Row] = field(default_factory=list)
    contacts: list[Row] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.conversations) + len(self.reply_deliveries)


class Record:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._insert = sqlite.insert if db.is_sqlite else postgresql.insert

    async def cursors(self, conversation_ids: Sequence[str]) -> dict[str, Cursor]:
        if not conversation_ids:
            return {}
        c = conversations.c
        query = select(c.id, c.rev, c.archived_events, c.archived_messages, c.last_score, c.document).where(
            c.id.in_(conversation_ids))
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return {r.id: Cursor(r.rev, r.archived_events, r.archived_messages, r.last_score, r.document) for r in rows}

    async def write(self, batch: Batch) -> None:
        """Idempotent: writing the same batch twice leaves the same rows."""
        async with self.db.engine.begin() as conn:
            await self._upsert(conn, contacts, batch.contacts, ("id",), update=True)
            await self._upsert(conn, conversations, batch.conversations, ("id",), update=True)
            await self._upsert(conn, messages, batch.messages, ("conversation_id", "seq"), update=False)
            await self._upsert(conn, events, batch.events, ("conversation_id", "seq"), update=False)
            await self._upsert(conn, replies, batch.reply_contents, ("reply_id",), update=REPLY_CONTENT)
            await self._upsert(conn, replies, batch.reply_deliveries, ("reply_id",), update=REPLY_DELIVERY)
            if self.db.is_sqlite and batch.conversations:
                await conn.execute(
                    text("INSERT OR REPLACE INTO conversation_search(rowid, document) VALUES (:num, :document)"),
                    [{"num": r["num"], "document": r["document"]} for r in batch.conversations])

    async def _upsert(self, conn: AsyncConnection, table: Table, rows: Sequence[Mapping[str, Any]],
                      key: tuple[str, ...], update: bool | tuple[str, ...]) -> None:
        """Insert rows; on a key already there, update the given columns (all: True; none: False).
        Rows of one call have the same columns; a key repeated within the call keeps its last row."""
        if not rows:
            return
        unique = list({tuple(r[k] for k in key): r for r in rows}.values())
        stmt: Any = self._insert(table)
        if update is False:
            stmt = stmt.on_conflict_do_nothing(index_elements=list(key))
        else:
            columns = [c for c in unique[0] if c not in key] if update is True else list(update)
            stmt = stmt.on_conflict_do_update(index_elements=list(key),
                                              set_={c: stmt.excluded[c] for c in columns})
        for start in range(0, len(unique), _UPSERT_BATCH):
            await conn.execute(stmt, unique[start:start + _UPSERT_BATCH])
