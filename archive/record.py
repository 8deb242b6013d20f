"""Writing the record: idempotent batched upserts keyed by stable ids (see `schema.py`).

Every write is a whole batch in one transaction: a crash leaves the record as it was before the
batch or after it, and a replay of the batch writes the same rows again (never a second row).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from sqlalchemy import Table, delete, exists, func, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from . import contact_terms, counters
from .database import Database, one_of
from .moves import move_out
from .schema import SEARCH_ORDER_BITS, contacts, conversations, erasures, events, messages, replies, search_order

log = logging.getLogger(__name__)

Row = dict[str, Any]
# PostgreSQL's "try again" errors: a deadlock (two archivers' transactions each waiting for a
# row the other holds) or a serialization failure. The transaction was rolled back whole, and
# writing a batch again is harmless: it is written again, at most `WRITE_ATTEMPTS` times.
RETRY_SQLSTATES = frozenset({"40P01", "40001"})
WRITE_ATTEMPTS = 5
# Replies are written from two sources that never overwrite each other's columns: the event that
# queued the reply (what was said) and the delivery record (what became of it).
REPLY_CONTENT = ("conversation_id", "sender", "text", "private", "created_at")
REPLY_DELIVERY = ("state", "platform_ids", "error", "updated_at")
# A contact's Redis copy expires after eviction and is made again from the next message's author,
# without what was learnt before (language, last agent, the address left for our answer): there a
# missing value means "not known here", so the record keeps its own. (A removed agent is cleared
# by `forget_agents`, not by a missing value.)
CONTACT_KEPT = ("language", "last_agent", "email")


@dataclass(frozen=True, slots=True)
class Cursor:
    """How much of a conversation the record holds."""

    rev: int
    archived_events: int
    archived_messages: int
    last_score: int
    created_at: int  # with the contact: which conversation the record holds under this id
    contact_id: str
    last_event: str = ""  # sha1 of the last event archived: Redis must hold the same there


@dataclass(frozen=True, slots=True)
class Collision:
    """A conversation in Redis whose id the record holds for another conversation (Redis counted
    ids again after it was emptied or restored from an older snapshot): it is not written over."""

    conversation_id: str
    archived: tuple[int, str]  # created_at, contact id in the record
    found: tuple[int, str]  # the same in Redis


@dataclass(frozen=True, slots=True)
class Rewound:
    """A conversation Redis holds at an older state than the record (Redis restored from an older
    snapshot): its version is below the record's rev, or the event at the place of the last one
    the record archived is missing or another. It is not written; the archiver brings Redis
    forward from the record (`rewind.py`)."""

    conversation_id: str
    version: int  # in Redis
    rev: int  # in the record


@dataclass(frozen=True, slots=True)
class Dropped:
    """A conversation of an erased person, created before their latest erasure: not written
    (`Record._drop_erased`), and erased from Redis again if Redis holds it (restored from a
    snapshot older than the erasure)."""

    conversation_id: str
    contact_id: str
    created_at: int


@dataclass
class Batch:
    """Rows to write together."""

    conversations: list[Row] = field(default_factory=list)
    messages: list[Row] = field(default_factory=list)
    events: list[Row] = field(default_factory=list)
    reply_contents: list[Row] = field(default_factory=list)
    reply_deliveries: list[Row] = field(default_factory=list)
    contacts: list[Row] = field(default_factory=list)
    moves: dict[str, set[str]] = field(default_factory=dict)  # conversation → message ids split off it
    reread: set[str] = field(default_factory=set)  # conversations whose whole history is in the batch
    collisions: list[Collision] = field(default_factory=list)  # not written (see `Collision`)
    rewound: list[Rewound] = field(default_factory=list)  # not written (see `Rewound`)
    dropped: list[Dropped] = field(default_factory=list)  # not written, set by `Record.write` (see `Dropped`)
    # conversation → (partition, its change stream's last entry id when it was read) (`covered.py`)
    read_at: dict[str, tuple[int, str]] = field(default_factory=dict)

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
        query = select(
            c.id, c.rev, c.archived_events, c.archived_messages, c.last_score, c.created_at, c.contact_id, c.last_event
        )
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(query.where(one_of(conn, c.id, conversation_ids)))).all()
        return {
            r.id: Cursor(
                r.rev, r.archived_events, r.archived_messages, r.last_score, r.created_at, r.contact_id, r.last_event
            )
            for r in rows
        }

    async def erased(self, redis_held: Mapping[str, tuple[str, int]]) -> list[Dropped]:
        """Of conversations Redis holds (id -> contact id, created_at), those of an erased person
        created before their latest erasure."""
        if not redis_held:
            return []
        async with self.db.engine.connect() as conn:
            at = await erased_at(conn, {contact for contact, _ in redis_held.values()})
        return [
            Dropped(cid, contact, created)
            for cid, (contact, created) in redis_held.items()
            if contact in at and created <= at[contact]
        ]

    async def documents(self, conversation_ids: Sequence[str]) -> dict[str, str]:
        """The search documents of these conversations: read only for those with a new version
        (a document grows with each message: most of what a cursor would carry)."""
        if not conversation_ids:
            return {}
        c = conversations.c
        async with self.db.engine.connect() as conn:
            rows = await conn.execute(select(c.id, c.document).where(one_of(conn, c.id, conversation_ids)))
            return {cid: document for cid, document in rows}

    async def write(self, batch: Batch) -> None:
        """Idempotent: writing the same batch twice leaves the same rows. What an erasure removed
        while the batch was in flight is not written back (`_drop_erased`).

        Several archivers write at once (each its own partitions' conversations), and a contact can
        be in the batches of two: its row is locked in one order by every writer (contacts sorted
        by id), and a transaction PostgreSQL rolls back as a deadlock or a serialization failure
        anyway is written again."""
        batch.conversations = list({r["id"]: r for r in batch.conversations}.values())  # the last copy wins
        await self._retrying(lambda: self._write(batch))

    async def _retrying(self, work: Callable[[], Awaitable[None]]) -> None:
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                await work()
                return
            except DBAPIError as exc:
                state = getattr(exc.orig, "sqlstate", None)
                if state not in RETRY_SQLSTATES or attempt == WRITE_ATTEMPTS:
                    raise
                log.info("record: transaction rolled back (%s), written again", state)
                await asyncio.sleep(random.uniform(0.005, 0.05) * attempt)

    async def _write(self, batch: Batch) -> None:
        async with self.db.engine.begin() as conn:
            await lock_against_erasure(conn, exclusive=False)
            changed = await _changed_contacts(conn, batch.contacts)  # a contact named again is mostly the same
            changed.sort(key=itemgetter("id"))  # one lock order for every writer
            await self._upsert(conn, contacts, changed, ("id",), update=True, keep=CONTACT_KEPT)
            await contact_terms.rewrite(conn, [r["id"] for r in changed])
            moved: list[int] = []
            if self.db.is_sqlite:
                moved, older = await _order_for_search(conn, batch.conversations)
                batch.conversations = [r for r in batch.conversations if r["id"] not in older]
            # A row is never written back to an older version (two archivers, a replay, or Redis
            # restored from an older snapshot: `Rewound`); on SQLite those rows were left
            # out just above, with their search rows.
            await self._upsert(conn, conversations, batch.conversations, ("id",), update=True, newer="rev")
            await counters.write_marks(conn, counters.highest(r["id"] for r in batch.conversations))
            await self._upsert(conn, messages, batch.messages, ("conversation_id", "seq"), update=False)
            await self._upsert(conn, events, batch.events, ("conversation_id", "seq"), update=False)
            for rows, columns in _reply_writes(batch):
                await self._upsert(conn, replies, rows, ("reply_id",), update=columns)
            if batch.moves or batch.reread:
                rebuilt = await move_out(conn, batch.moves, batch.reread)
                for r in batch.conversations:
                    r["document"] = rebuilt.get(r["id"], r["document"])
            if moved:
                await conn.exec_driver_sql("DELETE FROM conversation_search WHERE rowid = ?", [(n,) for n in moved])
            if self.db.is_sqlite and batch.conversations:
                await conn.exec_driver_sql(
                    "INSERT OR REPLACE INTO conversation_search(rowid, document) VALUES (?, ?)",
                    [(r["num"], r["document"]) for r in batch.conversations],
                )
            await self._drop_erased(conn, batch)

    async def forget_agents(self, agent_ids: Sequence[str]) -> None:
        """Removed agents are no contact's last agent and no archived conversation's assignee any
        more (an agent sees the conversations assigned to them: a later user of the same name must
        not). Their events still say who did what. Idempotent."""
        names = list(agent_ids)

        async def forget() -> None:
            async with self.db.engine.begin() as conn:
                await conn.execute(update(contacts).where(contacts.c.last_agent.in_(names)).values(last_agent=None))
                await conn.execute(
                    update(conversations).where(conversations.c.assignee.in_(names)).values(assignee=None)
                )

        await self._retrying(forget)

    async def _drop_erased(self, conn: AsyncConnection, batch: Batch) -> None:
        """An erasure wins over a batch read before it: in the batch's own transaction, the rows of
        conversations an erasure of their contact came after are deleted again (a conversation
        the person started after the erasure stays). The erasure's audit row and deletes are one
        transaction, serialized with this one (SQLite: one writer; PostgreSQL: an advisory lock)."""
        batch.dropped = []  # written again after a rollback: found again
        people = {r["contact_id"] for r in batch.conversations} | {r["id"] for r in batch.contacts}
        erased = await erased_at(conn, people)
        if not erased:
            return
        batch.dropped = [
            Dropped(r["id"], r["contact_id"], r["created_at"])
            for r in batch.conversations
            if r["contact_id"] in erased and r["created_at"] <= erased[r["contact_id"]]
        ]
        doomed = {d.conversation_id for d in batch.dropped}
        await delete_rows(conn, self.db.is_sqlite, list(doomed))
        # Delivery states read before the erasure: reply ids begin with their conversation's id.
        orphans = [r["reply_id"] for r in batch.reply_deliveries if r["reply_id"].partition(":")[0] in doomed]
        if orphans:
            await conn.execute(delete(replies).where(replies.c.reply_id.in_(orphans)))
        c = conversations.c
        await conn.execute(
            delete(contacts).where(contacts.c.id.in_(list(erased)), ~exists().where(c.contact_id == contacts.c.id))
        )
        await contact_terms.rewrite(conn, list(erased))  # those deleted are found no more

    async def _upsert(
        self,
        conn: AsyncConnection,
        table: Table,
        rows: Sequence[Mapping[str, Any]],
        key: tuple[str, ...],
        update: bool | tuple[str, ...],
        keep: tuple[str, ...] = (),
        newer: str | None = None,
    ) -> None:
        """Insert rows; on a key already there, update the given columns (all: True; none: False),
        those in `keep` only with a value (a NULL leaves the stored one), and with `newer` only if
        the row's value of that column is not below the stored one. Rows of one call have the
        same columns; a key repeated within the call keeps its last row."""
        if not rows:
            return
        by_key = itemgetter(*key)
        unique = list({by_key(r): r for r in rows}.values())
        sql, names, defaults = self._statement(table, key, update, tuple(unique[0]), keep, newer)
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

    def _statement(
        self,
        table: Table,
        key: tuple[str, ...],
        update: bool | tuple[str, ...],
        columns: tuple[str, ...],
        keep: tuple[str, ...] = (),
        newer: str | None = None,
    ) -> tuple[str, list[str], dict[str, Any]]:
        """The upsert's SQL, the columns it takes in order (the rows' and those with a default),
        and those defaults. Written once per shape, not compiled per call."""
        cache_key = (table.name, key, update, columns, keep, newer)
        if cache_key in self._statements:
            return self._statements[cache_key]
        defaults = {c.name: c.default.arg for c in table.c if c.name not in columns and c.default is not None}  # type: ignore[attr-defined]
        names = [*columns, *defaults]
        quoted = ", ".join(self._quote(n) for n in names)
        source = (
            f"VALUES ({', '.join('?' for _ in names)})"
            if self.db.is_sqlite
            else f"SELECT {quoted} FROM stage_{table.name}"  # noqa: S608 (names from schema.py)
        )
        changed = [c for c in columns if c not in key] if update is True else list(update or ())
        target = self._quote(table.name)
        action = (
            "DO UPDATE SET "
            + ", ".join(
                f"{self._quote(c)} = COALESCE(excluded.{self._quote(c)}, {target}.{self._quote(c)})"
                if c in keep
                else f"{self._quote(c)} = excluded.{self._quote(c)}"
                for c in changed
            )
            if changed
            else "DO NOTHING"
        )
        if changed and newer:
            action += f" WHERE {target}.{self._quote(newer)} <= excluded.{self._quote(newer)}"
        sql = (
            f"INSERT INTO {target} ({quoted}) {source} ON CONFLICT ({', '.join(self._quote(k) for k in key)}) {action}"
        )
        self._statements[cache_key] = (sql, names, defaults)
        return sql, names, defaults


async def _changed_contacts(conn: AsyncConnection, rows: Sequence[Row]) -> list[Row]:
    """The contact rows that would change what the record holds (a value missing from a column
    in `CONTACT_KEPT` keeps the stored one: no change)."""
    unique = list({r["id"]: r for r in rows}.values())
    if not unique:
        return []
    stored: dict[str, Row] = {}
    ids = [r["id"] for r in unique]
    for start in range(0, len(ids), 5000):
        found = await conn.execute(select(contacts).where(one_of(conn, contacts.c.id, ids[start : start + 5000])))
        stored.update({row.id: dict(row._mapping) for row in found})
    return [
        r
        for r in unique
        if (old := stored.get(r["id"])) is None
        or any(old.get(k) != v for k, v in r.items() if not (v is None and k in CONTACT_KEPT))
    ]


def _reply_writes(batch: Batch) -> list[tuple[list[Row], tuple[str, ...]]]:
    """The reply rows to write and the columns each updates. A reply whose content and delivery
    state are both in the batch (the usual case) is one row: one write, not an insert and then an
    update of the same row."""
    deliveries = {r["reply_id"]: r for r in batch.reply_deliveries}
    whole: list[Row] = []
    contents: list[Row] = []
    for r in batch.reply_contents:
        delivery = deliveries.pop(r["reply_id"], None)
        (whole if delivery else contents).append({**r, **delivery} if delivery else r)
    return [
        (whole, REPLY_CONTENT + REPLY_DELIVERY),
        (contents, REPLY_CONTENT),
        (list(deliveries.values()), REPLY_DELIVERY),
    ]


async def _order_for_search(conn: AsyncConnection, rows: Sequence[Row]) -> tuple[list[int], set[str]]:
    """SQLite: give each conversation row its search row id (`schema.search_order`): kept while
    its `updated_at` is unchanged (writing a batch again writes the same ids), else the next free
    tie number of its millisecond. Returns the row ids given up (their index rows go) and the
    conversations whose row the record holds at a newer version (not to be written: they keep
    their search row). Runs inside the writing transaction: SQLite has one writer, so no two
    batches take the same number."""
    if not rows:
        return [], set()
    c = conversations.c
    known: dict[str, tuple[int, int]] = {}
    revs: dict[str, int] = {}
    ids = list({r["id"] for r in rows})
    for start in range(0, len(ids), 5000):
        found = await conn.execute(select(c.id, c.num, c.updated_at, c.rev).where(c.id.in_(ids[start : start + 5000])))
        for cid, num, updated_at, rev in found:
            known[cid] = (num, updated_at)
            revs[cid] = rev
    older = {r["id"] for r in rows if revs.get(r["id"], 0) > r["rev"]}
    if older:
        rows = [r for r in rows if r["id"] not in older]
    moving = sorted(
        (r for r in rows if known.get(r["id"], (0, None))[1] != r["updated_at"]), key=itemgetter("updated_at", "id")
    )
    for r in rows:
        if r["id"] in known and known[r["id"]][1] == r["updated_at"]:
            r["num"] = known[r["id"]][0]
    if not moving:
        return [], older
    # The highest row id taken in each millisecond the batch moves conversations to: one seek each.
    used = await conn.exec_driver_sql(
        "SELECT value, (SELECT max(num) FROM conversations WHERE num >= value << ? AND num < (value + 1) << ?) "
        "FROM json_each(?)",
        (SEARCH_ORDER_BITS, SEARCH_ORDER_BITS, json.dumps(sorted({r["updated_at"] for r in moving}))),
    )
    highest: list[Any] = list(used)
    taken: dict[int, int] = {int(at): int(num) for at, num in highest if num is not None}
    given_up: list[int] = []
    for r in moving:
        at = r["updated_at"]
        tie = taken[at] - search_order(at, 0) + 1 if at in taken else 0
        r["num"] = taken[at] = search_order(at, tie)
        if r["id"] in known:
            given_up.append(known[r["id"]][0])
    return given_up, older


#: PostgreSQL advisory lock: erasures take it exclusively, the archiver's writes share it.
ERASURE_LOCK = 0x68_6C_65_72_61_73_65  # "hlerase"


async def lock_against_erasure(conn: AsyncConnection, exclusive: bool) -> None:
    """Serialize an erasure with the archiver's transactions (held until the transaction ends).
    SQLite needs nothing: it has one writer at a time."""
    if conn.dialect.name == "postgresql":
        function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
        await conn.execute(text(f"SELECT {function}(:key)"), {"key": ERASURE_LOCK})


async def delete_rows(conn: AsyncConnection, is_sqlite: bool, conversation_ids: Sequence[str]) -> None:
    """Delete conversations from the record with their messages, events, replies and search rows."""
    ids = list(conversation_ids)
    if not ids:
        return
    if is_sqlite:
        nums = (await conn.execute(select(conversations.c.num).where(conversations.c.id.in_(ids)))).scalars().all()
        if nums:
            await conn.exec_driver_sql("DELETE FROM conversation_search WHERE rowid = ?", [(num,) for num in nums])
    for table in (messages, events, replies):
        await conn.execute(delete(table).where(table.c.conversation_id.in_(ids)))
    await conn.execute(delete(conversations).where(conversations.c.id.in_(ids)))


async def erased_at(conn: AsyncConnection, people: Iterable[str]) -> dict[str, int]:
    """Contact id -> when its latest erasure was (ms), of these contacts erased (the audit rows
    name them by `subject_of`)."""
    subjects = {subject_of(person): person for person in people}
    if not subjects:
        return {}
    found = await conn.execute(
        select(erasures.c.subject, func.max(erasures.c.erased_at))
        .where(one_of(conn, erasures.c.subject, list(subjects)))
        .group_by(erasures.c.subject)
    )
    return {subjects[subject]: int(at) for subject, at in found}


def subject_of(contact_id: str) -> str:
    """What an erasure's audit row keeps of the person: the sha256 of the contact id."""
    return hashlib.sha256(contact_id.encode()).hexdigest()
