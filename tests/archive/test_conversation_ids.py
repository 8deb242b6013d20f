"""Conversation ids are never given twice: Redis emptied (or restored from an older snapshot)
counts ids again from 1, and nothing the record holds may be written over."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis.asyncio as redis
from alembic import command
from sqlalchemy import select

from helpline.archive.counters import before_routing, highest, read_marks
from helpline.archive.database import Database, alembic_config, migrate
from helpline.archive.evict import Evictor
from helpline.archive.schema import conversations, messages
from helpline.routing import keys
from helpline.routing.store import Effects
from tests.archive.helpers import Desk
from tests.factories import message

THREADS = 12  # over 4 partitions: several conversations in each


async def _record(db: Database) -> dict[str, tuple[Any, ...]]:
    """Each archived conversation: who, where, when, and its messages' texts."""
    c = conversations.c
    async with db.engine.connect() as conn:
        rows = (await conn.execute(select(c.id, c.created_at, c.contact_id, c.thread_key, c.status))).all()
        texts = (await conn.execute(select(messages.c.conversation_id, messages.c.text))).all()
    by_conversation: dict[str, list[str]] = {}
    for cid, text in texts:
        by_conversation.setdefault(cid, []).append(text)
    return {r.id: (*r[1:], sorted(by_conversation.get(r.id, []))) for r in rows}


async def _ids(desk: Desk, threads: list[str]) -> list[str]:
    found = [await desk.parts.store.find_thread("null", "main", t) for t in threads]
    assert all(found)
    return [cid for cid in found if cid]


async def _resolve(desk: Desk, ids: list[str]) -> None:
    now = datetime.now(UTC)
    at = int(now.timestamp() * 1000)
    await desk.parts.store.commit([Effects(cid).set(status="resolved", resolved_at=at) for cid in ids], now)


async def _first_desk(r: redis.Redis, db: Database) -> tuple[dict[str, tuple[Any, ...]], list[str]]:
    desk = Desk(r, db)
    threads = [f"old{i}" for i in range(THREADS)]
    await desk.ingest([message(f"old question {i}", thread=t, user=f"old{i}") for i, t in enumerate(threads)])
    ids = await _ids(desk, threads)
    await _resolve(desk, ids)
    await desk.archive()
    archived = await _record(db)
    assert sorted(archived) == sorted(ids)
    return archived, ids


async def test_an_archiver_started_on_an_emptied_redis_raises_the_id_counters_first(
    r: redis.Redis, db: Database
) -> None:
    archived, old_ids = await _first_desk(r, db)
    await r.flushall()  # Redis lost: restarted empty (or restored from a snapshot older than the record)
    desk = Desk(r, db)  # the processes start again: the archiver before anything is routed
    await desk.archive()
    threads = [f"new{i}" for i in range(THREADS)]
    await desk.ingest([message(f"new question {i}", thread=t, user=f"new{i}") for i, t in enumerate(threads)])
    new_ids = await _ids(desk, threads)
    await desk.archive()
    after = await _record(db)
    assert {cid: after[cid] for cid in old_ids} == archived  # nothing archived was written over
    assert not set(new_ids) & set(old_ids)  # the counters went on from the record's highest ids
    assert sorted(after) == sorted(old_ids + new_ids)  # and the new ones are archived beside them


async def test_a_router_started_on_an_emptied_redis_raises_the_id_counters_first(r: redis.Redis, db: Database) -> None:
    _, old_ids = await _first_desk(r, db)
    await r.flushall()
    await before_routing(r, db)
    desk = Desk(r, db)
    threads = [f"new{i}" for i in range(THREADS)]
    await desk.ingest([message(f"new question {i}", thread=t, user=f"new{i}") for i, t in enumerate(threads)])
    new_ids = await _ids(desk, threads)
    assert not set(new_ids) & set(old_ids)
    marks = await read_marks(db)
    for cid in old_ids:  # the record's marks are the highest archived id of each partition
        p, seq = (int(x) for x in cid.split("-"))
        assert seq <= marks[p]


async def test_ids_made_before_the_counters_were_raised_are_refused_and_dead_lettered(
    r: redis.Redis, db: Database
) -> None:
    archived, old_ids = await _first_desk(r, db)
    desk = Desk(r, db)
    await r.flushall()  # emptied under running processes: the router makes ids at once
    threads = [f"new{i}" for i in range(THREADS)]
    for round_ in range(2):
        await desk.ingest([message(f"new question {round_}", thread=t, user=f"new{i}") for i, t in enumerate(threads)])
    new_ids = await _ids(desk, threads)
    collided = sorted(set(new_ids) & set(old_ids))
    assert collided  # the ids the record holds were given again
    await desk.archive()
    after = await _record(db)
    assert {cid: after[cid] for cid in old_ids} == archived  # nothing archived was written over
    fresh = [cid for cid in new_ids if cid not in collided]
    assert all(after[cid][1].startswith("null:main:new") for cid in fresh)  # the others are archived
    # Each refused conversation is a dead letter with the reason, once.
    letters = [
        {k.decode(): v.decode() for k, v in fields.items()}
        for p in range(4)
        for _, fields in await r.xrange(keys.dead_letters(p))
    ]
    assert sorted(letter["error"].split()[1] for letter in letters) == collided
    assert all("has the id of another conversation the record holds" in letter["error"] for letter in letters)
    assert all(letter["stream"] == "archiver" for letter in letters)
    await desk.ingest([message("new question 2", thread=t, user=f"new{i}") for i, t in enumerate(threads)])
    await desk.archive()  # changed again: not dead-lettered twice, still not written
    assert sum([await r.xlen(keys.dead_letters(p)) for p in range(4)]) == len(collided)
    assert {cid: (await _record(db))[cid] for cid in old_ids} == archived
    # The archiver raised the counters: what is made now has an id of its own.
    await desk.ingest([message("later question", thread="later", user="later")])
    later = (await _ids(desk, ["later"]))[0]
    assert later not in old_ids and later not in new_ids
    await desk.archive()
    assert (await _record(db))[later][1] == "null:main:later"


async def test_a_conversation_refused_for_its_id_is_never_evicted(r: redis.Redis, db: Database) -> None:
    _, old_ids = await _first_desk(r, db)
    desk = Desk(r, db)
    await r.flushall()
    threads = [f"new{i}" for i in range(THREADS)]  # the same steps as the archived ones: the same versions
    await desk.ingest([message(f"new question {i}", thread=t, user=f"new{i}") for i, t in enumerate(threads)])
    new_ids = await _ids(desk, threads)
    await _resolve(desk, new_ids)
    await desk.archive()
    collided = sorted(set(new_ids) & set(old_ids))
    assert collided
    evictor = Evictor(r, db, 4, quiet_period_s=0)
    await evictor.round(int(datetime.now(UTC).timestamp() * 1000) + 10_000)
    for cid in collided:  # the record does not hold them: they stay in Redis
        assert await r.exists(keys.conversation(cid))
        assert await r.hget(keys.conversation(cid), "contact_id") != (await _record(db))[cid][1].encode()  # type: ignore[misc]


async def test_the_migration_gives_a_record_from_before_the_marks_its_marks(r: redis.Redis, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/old.db"
    migrate(url)
    db = Database(url)
    try:
        _, ids = await _first_desk(r, db)
        command.downgrade(alembic_config(url), "0006")  # a record archived before the marks
        command.upgrade(alembic_config(url), "head")
        assert await read_marks(db) == highest(ids)
    finally:
        await db.close()
