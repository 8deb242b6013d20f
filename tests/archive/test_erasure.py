from datetime import UTC, datetime

import pytest
import redis.asyncio as redis
from sqlalchemy import select

from helpline.archive.database import Database
from helpline.archive.erasure import erase_contact, subject_of
from helpline.archive.errors import ErasureRefused
from helpline.archive.evict import Evictor
from helpline.archive.schema import contacts, conversations, erasures, events, messages, replies
from helpline.archive.search import Access, Query, search
from helpline.archive.snapshot import read_changes
from helpline.routing import keys
from helpline.routing.models import Agent, Presence
from helpline.routing.store import Effects
from tests.archive.helpers import Desk
from tests.factories import message


async def _setup(r: redis.Redis, db: Database) -> tuple[Desk, str, str]:
    desk = Desk(r, db)
    await desk.ingest(
        [
            message("my passport number is X123", thread="a", user="erin"),
            message("second thread, same person", thread="a2", user="erin"),
            message("someone else entirely", thread="b", user="bob"),
        ]
    )
    await desk.send()
    store = desk.parts.store
    a, a2 = await store.find_thread("null", "main", "a"), await store.find_thread("null", "main", "a2")
    assert a and a2
    now = datetime.now(UTC)
    await store.commit([Effects(a).set(status="resolved"), Effects(a2).set(status="resolved")], now)
    await desk.archive()
    return desk, a, a2


async def test_erasure_removes_a_person_everywhere_and_keeps_an_audit_row(r: redis.Redis, db: Database) -> None:
    desk, a, a2 = await _setup(r, db)
    await Evictor(r, db, 4, quiet_period_s=0).round(int(datetime.now(UTC).timestamp() * 1000) + 10_000)
    assert not await r.exists(keys.conversation(a))  # a and a2 live only in the record now (b is open)
    erased = await erase_contact(r, db, 4, "null:main:erin", operator="admin", reason="GDPR request 7")
    assert erased.conversations == 2 and erased.messages == 2
    async with db.engine.connect() as conn:
        for table in (messages, events, replies):
            assert (await conn.execute(select(table).where(table.c.conversation_id.in_([a, a2])))).all() == []
        assert (await conn.execute(select(conversations).where(conversations.c.id.in_([a, a2])))).all() == []
        assert (await conn.execute(select(contacts).where(contacts.c.id == "null:main:erin"))).all() == []
        audit = (await conn.execute(select(erasures))).one()
        assert (await conn.execute(select(conversations))).all() != []  # bob's conversation stays
    assert audit.subject == subject_of("null:main:erin") and audit.operator == "admin"
    assert "erin" not in str(tuple(audit)) and "passport" not in str(tuple(audit))
    assert (await search(db, Access(everything=True), Query("passport"))).hits == []
    assert not await r.exists(keys.contact("null:main:erin"))
    assert await desk.archive() >= 0  # nothing of it comes back


async def test_erasure_of_a_conversation_still_in_redis(r: redis.Redis, db: Database) -> None:
    desk, a, _ = await _setup(r, db)
    await erase_contact(r, db, 4, "null:main:erin", operator="admin")
    assert [k async for k in r.scan_iter(match=f"*conv:{a}*")] == []
    assert [k async for k in r.scan_iter(match=f"*reply:{a}:*")] == []
    assert await desk.parts.store.find_thread("null", "main", "a") is None


async def test_an_open_conversation_is_refused_unless_forced(r: redis.Redis, db: Database) -> None:
    desk = Desk(r, db)
    await desk.ingest([message("still talking", thread="a", user="erin")])
    await desk.archive()
    with pytest.raises(ErasureRefused, match="open conversations"):
        await erase_contact(r, db, 4, "null:main:erin", operator="admin")
    assert await desk.parts.store.find_thread("null", "main", "a") is not None
    erased = await erase_contact(r, db, 4, "null:main:erin", operator="admin", force=True)
    assert erased.conversations == 1
    async with db.engine.connect() as conn:
        assert (await conn.execute(select(erasures.c.forced))).scalar_one() is True


async def test_a_forced_erasure_gives_back_the_agents_slot(r: redis.Redis, db: Database) -> None:
    desk = Desk(r, db)
    await desk.ingest([message("still talking", thread="a", user="erin")])
    cid = await desk.parts.store.find_thread("null", "main", "a")
    assert cid is not None
    assignments = desk.parts.assignments
    await assignments.upsert_agent(Agent(id="ana", name="Ana", capacity=1, presence=Presence.ONLINE))
    assert await assignments.claim(cid, "ana") == "ana"
    await desk.parts.store.commit([Effects(cid).set(assignee="ana")], datetime.now(UTC))
    await desk.archive()
    await erase_contact(r, db, 4, "null:main:erin", operator="admin", force=True)
    assert await assignments.assigned_to(cid) is None
    assert await r.scard(keys.agent_load("ana")) == 0  # her one slot is free for the next customer


async def test_an_erasure_wins_over_an_archiver_batch_in_flight(r: redis.Redis, db: Database) -> None:
    desk = Desk(r, db)
    await desk.ingest(
        [
            message("my passport number is X123", thread="a", user="erin"),
            message("someone else entirely", thread="b", user="bob"),
        ]
    )
    await desk.send()
    store = desk.parts.store
    a, b = await store.find_thread("null", "main", "a"), await store.find_thread("null", "main", "b")
    assert a and b
    await store.commit([Effects(a).set(status="resolved")], datetime.now(UTC))
    # The archiver has read its batch from Redis (erin included) when the erasure runs ...
    ids = await store.recent(10)
    reply_ids = [
        (keys.conversation_partition(cid), str(e.data["reply_id"]))
        for cid in ids
        for e in await store.events(cid)
        if "reply_id" in e.data
    ]
    batch = await read_changes(r, desk.record, ids, reply_ids)
    assert {row["contact_id"] for row in batch.conversations} == {"null:main:erin", "null:main:bob"}
    await erase_contact(r, db, 4, "null:main:erin", operator="admin")
    # ... and writes it after: erin's rows do not come back, bob's are written.
    await desk.record.write(batch)
    async with db.engine.connect() as conn:
        assert (await conn.execute(select(conversations.c.contact_id))).scalars().all() == ["null:main:bob"]
        assert (await conn.execute(select(contacts.c.id))).scalars().all() == ["null:main:bob"]
        for table in (messages, events, replies):
            assert set((await conn.execute(select(table.c.conversation_id))).scalars()) == {b}
    assert (await search(db, Access(everything=True), Query("passport"))).hits == []
    # The person writing again after the erasure is a new conversation, archived as usual.
    await desk.ingest([message("hello again", thread="a", user="erin")])
    await desk.archive()
    async with db.engine.connect() as conn:
        assert sorted((await conn.execute(select(contacts.c.id))).scalars().all()) == [
            "null:main:bob",
            "null:main:erin",
        ]
    assert [h.conversation["contact_id"] for h in (await search(db, Access(everything=True), Query("hello"))).hits] == [
        "null:main:erin"
    ]


async def test_erasure_removes_the_example_phrasings_taken_from_the_persons_conversations(
    r: redis.Redis, db: Database
) -> None:
    from helpline.bots.examples import ExampleStore, Source

    desk, a, a2 = await _setup(r, db)
    b = await desk.parts.store.find_thread("null", "main", "b")
    assert b
    examples = ExampleStore(r)
    mine = await examples.propose("2fa-reset", "en", "my passport number is X123", Source.LINK, conversation_id=a)
    approved = await examples.propose(
        "password-reset", "en", "second thread, same person", Source.MARKED, conversation_id=a2
    )
    other = await examples.propose("2fa-reset", "en", "someone else entirely", Source.LINK, conversation_id=b)
    assert mine and approved and other
    await examples.decide(approved.id, approve=True, who="agent:sue")
    await erase_contact(r, db, 4, "null:main:erin", operator="admin")
    assert [e.id for e in await examples.all()] == [other.id]
    assert await examples.version() == 2  # the bots drop the approved one at their next check
