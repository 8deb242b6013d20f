"""Writing the record: idempotent batched upserts keyed by stable ids (see `schema.py`).

Every write is a whole batch in one transaction: a crash leaves the record as it was before the
batch or after it, and a replay of the batch writes the same rows again (never a second row).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncConnection

from .database import Database
from .schema import contacts, conversations, events, messages, replies

Row = dict[str, Any]
# Replies are written from two sources that never overwrite each other's columns: the event that
# queued the reply (what was said) and the delivery record (what became of it).
REPLY_CONTENT = ("conversation_id", "sender", "text", "private", "created_at")
REPLY_DELIVERY = ("state", "platform_ids", "error", "updated_at")


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
        self._quote = db.engine.dialect.identifier_preparer.quote
        self._statements: dict[tuple[Any, ...], tuple[str, list[str], dict[str, Any]]] = {}

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
                await conn.exec_driver_sql(
                    "INSERT OR REPLACE INTO conversation_search(rowid, document) VALUES (?, ?)",
                    [(r["num"], r["document"]) for r in batch.conversations])

    async def _upsert(self, conn: AsyncConnection, table: Table, rows: Sequence[Mapping[str, Any]],
                      key: tuple[str, ...], update: bool | tuple[str, ...]) -> None:
        """Insert rows; on a key already there, update the given columns (all: True; none: False).
        Rows of one call have the same columns; a key repeated within the call keeps its last row."""
        if not rows:
            return
        by_key = itemgetter(*key)
        unique = list({by_key(r): r for r in rows}.values())
        sql, names, defaults = self._statement(table, key, update, tuple(unique[0]))
        ordered = itemgetter(*names)
        params = [ordered(r) for r in unique] if not defaults else [ordered({**defaults, **r}) for r in unique]
        if self.db.is_sqlite:  # sqlite3's executemany: one prepared statement, a C loop
            await conn.exec_driver_sql(sql, params)
            return
        # PostgreSQL: COPY into a session-local staging table, then one set-based upsert from it.
        stage, columns = f"stage_{table.name}", ", ".join(self._quote(n) for n in names)
        driver = (await conn.get_raw_connection()).driver_connection
        assert driver is not None
        async with driver.cursor() as cur:
            await cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {self._quote(table.name)})")
            async with cur.copy(f"COPY {stage} ({columns}) FROM STDIN") as copy:
                for row in params:
                    await copy.write_row(row)
            await cur.execute(sql)
            await cur.execute(f"TRUNCATE {stage}")

    def _statement(self, table: Table, key: tuple[str, ...], update: bool | tuple[str, ...],
                   columns: tuple[str, ...]) -> tuple[str, list[str], dict[str, Any]]:
        """The upsert's SQL, the columns it takes in order (the rows' and those with a default),
        and those defaults. Written once per shape, not compiled per call."""
        cache_key = (table.name, key, update, columns)
        if cache_key in self._statements:
            return self._statements[cache_key]
        defaults = {c.name: c.default.arg for c in table.c if c.name not in columns and c.default is not None}  # type: ignore[attr-defined]
        names = [*columns, *defaults]
        quoted = ", ".join(self._quote(n) for n in names)
        source = (f"VALUES ({', '.join('?' for _ in names)})" if self.db.is_sqlite
                  else f"SELECT {quoted} FROM stage_{table.name}")  # noqa: S608 (names from schema.py)
        changed = [c for c in columns if c not in key] if update is True else list(update or ())
        action = ("DO UPDATE SET " + ", ".join(f"{self._quote(c)} = excluded.{self._quote(c)}" for c in changed)
                  if changed else "DO NOTHING")
        sql = (f"INSERT INTO {self._quote(table.name)} ({quoted}) {source} "
               f"ON CONFLICT ({', '.join(self._quote(k) for k in key)}) {action}")
        self._statements[cache_key] = (sql, names, defaults)
        return sql, names, defaults
