"""Archivers sharing the partitions: each owns p % shards == its number; together they write every
row once, with contacts named in many partitions written by both at the same time."""

from __future__ import annotations

import asyncio
import logging

import pytest
import redis.asyncio as redis
from sqlalchemy import func, select

from helpline.archive import contact_terms
from helpline.archive.archiver import Archiver, archive_lag
from helpline.archive.database import Database
from helpline.archive.record import Batch, Record
from helpline.archive.schema import contact_terms as terms_table
from helpline.archive.schema import contacts, conversations, messages
from helpline.routing import keys
from helpline.routing.models import Author, InboundMessage
from tests.archive.helpers import Desk
from tests.factories import message

USERS, THREADS = 60, 8


def _renamed(u: int, t: int) -> InboundMessage:
    m = message(f"deposit {u} {t} 출금", thread=f"t{u}-{t}", user=f"u{u}")
    return m.model_copy(update={"author": Author(user_id=f"u{u}", handle=f"@u{u}", display_name=f"U{u} {t}")})


async def _backlog(desk: Desk) -> int:
    """Every user writes in THREADS threads, under a new name each time: their conversations fall
    in every partition, and every batch changes their contacts."""
    total = 0
    for t in range(THREADS):
        batch = [_renamed(u, t) for u in range(USERS)]
        await desk.ingest(batch)
        total += len(batch)
    await desk.send()
    return total


async def test_two_archivers_write_every_row_once_with_contacts_in_every_partition(
    r: redis.Redis, db: Database, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    if db.is_sqlite:
        pytest.skip("SQLite takes one writer at a time: one archiver process (database.archivers)")
    desk = Desk(r, db)
    total = await _backlog(desk)
    partitions = desk.parts.settings.redis.partitions
    second = Database(database_url)  # its own engine, as a second process has
    try:
        workers = [
            Archiver(r, Record(d), partitions, f"archiver-{i}", batch_size=8, shard=i, shards=2)
            for i, d in enumerate((db, second))
        ]
        with caplog.at_level(logging.WARNING, logger="helpline.archive"):
            done = await asyncio.wait_for(asyncio.gather(*(w.catch_up() for w in workers)), 120)
    finally:
        await second.close()
    assert [m.levelname for m in caplog.records if m.levelno >= logging.WARNING] == []
    assert all(n > 0 for n in done)
    assert (await archive_lag(r, partitions)).entries == 0
    async with db.engine.connect() as conn:
        count = await conn.execute(select(func.count(), func.count(func.distinct(messages.c.message_id))))
        rows, distinct = count.one()
        archived = (await conn.execute(select(func.count()).select_from(conversations))).scalar_one()
        people = [dict(row._mapping) for row in await conn.execute(select(contacts))]
        term_rows = (await conn.execute(select(func.count()).select_from(terms_table))).scalar_one()
    assert distinct == total and rows == total
    assert archived == USERS * THREADS
    assert len(people) == USERS
    assert term_rows == sum(len(contact_terms.terms(p)) for p in people)


async def test_each_archiver_reads_and_keeps_the_marks_of_its_own_partitions(r: redis.Redis, db: Database) -> None:
    desk = Desk(r, db)
    await _backlog(desk)
    partitions = desk.parts.settings.redis.partitions
    odd = Archiver(r, Record(db), partitions, "odd", shard=1, shards=2)
    assert odd.streams == [keys.changes(p) for p in range(1, partitions, 2)]
    await odd.catch_up()
    assert odd.marks and set(odd.marks) <= {1, 3}
    even = Archiver(r, Record(db), partitions, "even", shard=0, shards=2)
    await even.catch_up()
    assert even.marks and set(even.marks) <= {0, 2}
    assert (await archive_lag(r, partitions)).entries == 0
    restarted = Archiver(r, Record(db), partitions, "even-again", shard=0, shards=2)
    await restarted.keep_counters()  # read from the record: its own partitions' marks only
    assert restarted.marks == even.marks


def test_a_shard_outside_the_shards_is_refused(r: redis.Redis, db: Database) -> None:
    with pytest.raises(ValueError, match="shard 2 of 2"):
        Archiver(r, Record(db), 4, "x", shard=2, shards=2)


def _people(names: str, count: int) -> list[dict[str, object]]:
    return [
        {
            "id": f"null:main:p{i}",
            "platform": "null",
            "account": "main",
            "user_id": f"p{i}",
            "handle": f"p{i}",
            "display_name": f"{names} {i}",
            "language": None,
            "last_agent": None,
            "email": None,
        }
        for i in range(count)
    ]


async def test_two_writers_of_the_same_contacts_in_opposite_orders_neither_deadlock_nor_fail(
    db: Database, database_url: str
) -> None:
    if db.is_sqlite:
        pytest.skip("SQLite takes one writer at a time")
    second = Database(database_url)
    try:
        one, other = Record(db), Record(second)
        for round_ in range(6):  # each round renames everyone: every contact row and term is written
            people = _people(f"round {round_}", 1500)
            await asyncio.wait_for(
                asyncio.gather(one.write(Batch(contacts=people)), other.write(Batch(contacts=list(reversed(people))))),
                60,
            )
    finally:
        await second.close()
    async with db.engine.connect() as conn:
        names = set((await conn.execute(select(contacts.c.display_name))).scalars())
        term_rows = (await conn.execute(select(func.count()).select_from(terms_table))).scalar_one()
    assert names == {f"round 5 {i}" for i in range(1500)}
    assert term_rows == sum(len(contact_terms.terms(p)) for p in _people("round 5", 1500))
