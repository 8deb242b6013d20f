import json
from pathlib import Path

import pytest
import redis.asyncio as redis
from sqlalchemy import event, select

from helpline.archive import archiver as archiver_module
from helpline.archive.archiver import Lag, archive_lag
from helpline.archive.database import Database
from helpline.archive.record import Batch, Record
from helpline.archive.schema import contacts, conversations, events, messages, replies
from helpline.routing import keys
from tests.archive.helpers import Desk
from tests.factories import message


async def test_conversations_messages_events_replies_and_contacts_reach_sql(r: redis.Redis, db: Database) -> None:
    desk = Desk(r, db)
    await desk.ingest(
        [
            message("my withdrawal is stuck", thread="a", user="u1"),
            message("still stuck", thread="a", user="u1"),
            message("출금이 안돼요", thread="b", user="u2", language="ko"),
        ]
    )
    await r.hset(keys.contact("null:main:u2"), "email", "u2@example.com")  # type: ignore[misc]
    assert (await archive_lag(r, 4)).entries > 0
    assert await desk.archive() > 0
    store = desk.parts.store
    cid = await store.find_thread("null", "main", "a")
    assert cid is not None
    conv = await store.get(cid)
    assert conv is not None
    async with db.engine.connect() as conn:
        row = (await conn.execute(select(conversations).where(conversations.c.id == cid))).one()
        texts = (
            (
                await conn.execute(
                    select(messages.c.text).where(messages.c.conversation_id == cid).order_by(messages.c.seq)
                )
            )
            .scalars()
            .all()
        )
        event_types = (
            (await conn.execute(select(events.c.type).where(events.c.conversation_id == cid).order_by(events.c.seq)))
            .scalars()
            .all()
        )
        reply_rows = (await conn.execute(select(replies).where(replies.c.conversation_id == cid))).all()
        person = (await conn.execute(select(contacts).where(contacts.c.id == conv.contact_id))).one()
    assert list(texts) == ["my withdrawal is stuck", "still stuck"]
    assert list(event_types) == [e.type.value for e in await store.events(cid)]
    assert row.message_count == 2 and row.status == "open" and row.team == conv.team
    assert row.rev == int(await r.hget(keys.conversation(cid), "version"))  # type: ignore[misc]
    assert "withdrawal" in row.document.split() and "u1" in row.document.split()
    assert sorted(x.text for x in reply_rows) == ["Thanks, we got it.", "Thanks, we got it."]
    assert {x.state for x in reply_rows} == {"queued"}
    assert person.handle == "@u1" and person.email is None
    async with db.engine.connect() as conn:  # the address a customer left for our answer
        other = (await conn.execute(select(contacts).where(contacts.c.id == "null:main:u2"))).one()
    assert other.email == "u2@example.com"
    assert await archive_lag(r, 4) == Lag(0, 0.0)

    # The sender posts the replies: their delivery states follow through the change stream.
    await desk.send()
    await desk.archive()
    async with db.engine.connect() as conn:
        states = (await conn.execute(select(replies.c.state, replies.c.platform_ids))).all()
    assert {s.state for s in states} == {"sent"} and len(states) == 3
    assert all(json.loads(s.platform_ids) for s in states)


async def test_a_contact_made_again_in_redis_keeps_what_the_record_knows(r: redis.Redis, db: Database) -> None:
    desk = Desk(r, db)
    await desk.ingest([message("where is my deposit", thread="a", user="u1")])
    await r.hset(keys.contact("null:main:u1"), mapping={"email": "u1@example.com", "last_agent": "amy"})  # type: ignore[misc]
    await desk.archive()
    # The Redis copy expired (after eviction); the customer writes again.
    await r.delete(keys.contact("null:main:u1"))
    await desk.ingest([message("hello again", thread="b", user="u1")])
    assert await r.hget(keys.contact("null:main:u1"), "email") is None  # type: ignore[misc]
    await desk.archive()
    async with db.engine.connect() as conn:
        person = (await conn.execute(select(contacts).where(contacts.c.id == "null:main:u1"))).one()
    assert (person.email, person.last_agent) == ("u1@example.com", "amy")
    assert person.handle == "@u1"  # what the new copy does carry is written
    # A value the new copy has replaces the record's.
    await r.hset(keys.contact("null:main:u1"), "email", "new@example.com")  # type: ignore[misc]
    await desk.ingest([message("and again", thread="b", user="u1")])
    await desk.archive()
    async with db.engine.connect() as conn:
        assert (
            await conn.execute(select(contacts.c.email).where(contacts.c.id == "null:main:u1"))
        ).scalar_one() == "new@example.com"


async def test_a_replay_of_every_change_writes_no_second_row(r: redis.Redis, db: Database) -> None:
    desk = Desk(r, db)
    await desk.ingest([message(f"message {i}", thread=f"t{i % 3}", user=f"u{i % 3}") for i in range(12)])
    await desk.send()
    await desk.archive()
    before = await desk.counts()
    assert before["messages"] == 12 and before["conversations"] == 3
    # Every change delivered again from the start (as after losing the group's position).
    for p in range(4):
        await r.xgroup_setid(keys.changes(p), keys.ARCHIVER_GROUP, "0")
    # ... and a record that forgot how far it got (cursors back at zero): still no doubles.
    async with db.engine.begin() as conn:
        await conn.execute(conversations.update().values(archived_events=0, archived_messages=0, last_score=-1))
    await desk.archive()
    assert await desk.counts() == before


async def test_a_change_named_again_does_not_rewrite_what_the_record_holds(r: redis.Redis, db: Database) -> None:
    desk = Desk(r, db)
    await desk.ingest([message(f"message {i}", thread=f"t{i % 2}", user=f"u{i % 2}") for i in range(4)])
    await desk.archive()
    async with db.engine.begin() as conn:  # a mark that only a rewrite would remove
        await conn.execute(conversations.update().values(document="unchanged"))
    await r.hset(keys.contact("null:main:u0"), "email", "u0@example.com")  # type: ignore[misc]
    for p in range(4):  # every change delivered again (a backlog names a conversation once per change)
        await r.xgroup_setid(keys.changes(p), keys.ARCHIVER_GROUP, "0")
    await desk.archive()
    async with db.engine.connect() as conn:
        documents = (await conn.execute(select(conversations.c.document))).scalars().all()
        email = (await conn.execute(select(contacts.c.email).where(contacts.c.id == "null:main:u0"))).scalar_one()
    assert list(documents) == ["unchanged", "unchanged"]  # the record holds their versions: not written again
    assert email == "u0@example.com"  # their contacts are read still (a contact changes without a version)
    # A new version is written.
    await desk.ingest([message("one more", thread="t0", user="u0")])
    await desk.archive()
    async with db.engine.connect() as conn:
        documents = (await conn.execute(select(conversations.c.document).order_by(conversations.c.id))).scalars().all()
    assert sorted("more" in d.split() for d in documents) == [False, True]


async def test_later_messages_are_appended_not_rewritten(r: redis.Redis, db: Database) -> None:
    desk = Desk(r, db)
    await desk.ingest([message("first", thread="x")])
    await desk.archive()
    await desk.ingest([message("second", thread="x"), message("third", thread="x")])
    await desk.archive()
    cid = await desk.parts.store.find_thread("null", "main", "x")
    async with db.engine.connect() as conn:
        row = (await conn.execute(select(conversations).where(conversations.c.id == cid))).one()
        texts = (await conn.execute(select(messages.c.text).order_by(messages.c.seq))).scalars().all()
    assert list(texts) == ["first", "second", "third"]
    assert row.archived_messages == 3 and row.message_count == 3
    assert {"first", "second", "third"} <= set(row.document.split())


async def test_many_conversations_are_written_in_bounded_chunks(
    r: redis.Redis, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(archiver_module, "CONVERSATIONS_PER_WRITE", 2)
    writes: list[int] = []
    apart: set[str] = set()  # replies whose delivery state was written without their content
    original = Record.write

    async def counting(self: Record, batch: Batch) -> None:
        writes.append(len(batch.conversations))
        apart.update({x["reply_id"] for x in batch.reply_deliveries} - {x["reply_id"] for x in batch.reply_contents})
        await original(self, batch)

    monkeypatch.setattr(Record, "write", counting)
    desk = Desk(r, db)
    await desk.ingest([message(f"message {i}", thread=f"t{i % 7}", user=f"u{i % 7}") for i in range(21)])
    await desk.send()
    await desk.archive()
    assert max(writes) == 2 and sum(writes) >= 7
    assert not apart  # a reply's state goes with its conversation's chunk: one row written, not two writes
    counts = await desk.counts()
    assert counts["conversations"] == 7 and counts["messages"] == 21 and counts["replies"] == 21
    async with db.engine.connect() as conn:
        assert set((await conn.execute(select(replies.c.state))).scalars()) == {"sent"}


async def test_the_archiver_runs_its_scripts_in_its_pipelines_round_trip(r: redis.Redis, db: Database) -> None:
    desk = Desk(r, db)
    await desk.ingest([message("my withdrawal is stuck", thread="a", user="u1")])
    await desk.send()
    await r.config_resetstat()
    assert await desk.archive() > 0
    stats = await r.info("commandstats")
    assert int(stats["cmdstat_evalsha"]["calls"]) > 0
    assert "cmdstat_script|exists" not in stats  # redis-py would ask before every pipeline with a script


async def test_the_embedded_record_writes_with_a_page_cache_that_fits_its_indexes(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path}/record.db")
    async with db.engine.connect() as conn:
        settings = [
            (await conn.exec_driver_sql(f"PRAGMA {name}")).scalar_one()
            for name in ("journal_mode", "synchronous", "cache_size", "mmap_size")
        ]
    await db.close()
    assert settings == ["wal", 1, -65536, 268435456]  # synchronous 1: NORMAL


async def test_what_did_not_change_is_neither_read_nor_written(r: redis.Redis, db: Database) -> None:
    desk = Desk(r, db)
    await desk.ingest([message(f"message {i}", thread=f"t{i}", user=f"u{i}") for i in range(2)])
    await desk.archive()
    statements: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(" ".join(statement.split()).lower())

    event.listen(db.engine.sync_engine, "before_cursor_execute", seen)
    try:
        for p in range(4):  # every change named again: the record holds their versions
            await r.xgroup_setid(keys.changes(p), keys.ARCHIVER_GROUP, "0")
        await desk.archive()
        assert not [s for s in statements if "document" in s]  # a search document is neither read nor written
        assert not [s for s in statements if s.startswith(("insert into contacts", "insert into contact_terms"))]
        statements.clear()
        await desk.ingest([message("one more", thread="t0", user="u0")])  # a new version, the same contact
        await desk.archive()
        assert len([s for s in statements if s.startswith("select") and "document" in s]) == 1  # its own
        assert not [s for s in statements if s.startswith(("insert into contacts", "insert into contact_terms"))]
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", seen)
    async with db.engine.connect() as conn:
        documents = (await conn.execute(select(conversations.c.document).order_by(conversations.c.id))).scalars().all()
    assert sorted("more" in d.split() for d in documents) == [False, True]


async def test_a_backlog_reads_each_conversation_once_and_misses_no_later_change(
    r: redis.Redis, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    desk = Desk(r, db)
    for text in ("my withdrawal is stuck", "still stuck", "hello?"):  # three commits: entries far apart
        await desk.ingest([message(text, thread="a", user="u1"), message(f"{text} too", thread="b", user="u2")])
    await desk.send()
    reads: list[str] = []
    real = archiver_module.read_changes

    async def read_changes(client: redis.Redis, record: Record, ids: list[str], replies: object) -> Batch:
        ids = list(ids)
        batch = await real(client, record, ids, replies)  # type: ignore[arg-type]
        if not reads:  # a change after the first read, before the rest of the backlog is read
            await desk.ingest([message("one more", thread="a", user="u1")])
        reads.extend(ids)
        return batch

    monkeypatch.setattr(archiver_module, "read_changes", read_changes)
    desk.archiver.batch_size = 1  # an entry per stream and read: the backlog takes many rounds
    await desk.archive()
    a = await desk.parts.store.find_thread("null", "main", "a")
    b = await desk.parts.store.find_thread("null", "main", "b")
    assert a is not None and b is not None
    # b was read once although six entries named it; a twice: once more for the change after its read.
    assert (reads.count(b), reads.count(a)) == (1, 2)
    async with db.engine.connect() as conn:
        texts = (await conn.execute(select(messages.c.text).where(messages.c.conversation_id == a))).scalars().all()
        rev = (await conn.execute(select(conversations.c.rev).where(conversations.c.id == a))).scalar_one()
    assert sorted(texts) == sorted(["my withdrawal is stuck", "still stuck", "hello?", "one more"])
    assert rev == int(await r.hget(keys.conversation(a), "version"))  # type: ignore[misc]
    assert await desk.counts() == {"conversations": 2, "messages": 7, "events": await desk.count(events), "replies": 7}
