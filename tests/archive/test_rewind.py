"""Redis restored from a snapshot older than the record: the record never goes back in time, and
what happened after the restore is archived beside what the snapshot lost, nothing twice.

The snapshot is taken for real (DUMP of every key, with its time to live) and restored the way an
operator's older RDB would come back: Redis emptied, then every key as it was."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
import redis.asyncio as redis
from prometheus_client import REGISTRY
from sqlalchemy import select

from helpline.archive import archiver as archiver_module
from helpline.archive.database import Database
from helpline.archive.erasure import erase_contact
from helpline.archive.evict import Evictor
from helpline.archive.reader import History, history
from helpline.archive.record import Batch, Record
from helpline.archive.schema import contacts, conversations, events, messages, replies
from helpline.archive.search import Access, Query, search
from helpline.routing import keys
from helpline.routing.decode import as_text
from helpline.routing.models import ConversationEvent, EventType
from helpline.routing.store import Effects
from tests.archive.helpers import Desk
from tests.factories import message

Snapshot = list[tuple[bytes, int, bytes]]


async def _snapshot(r: redis.Redis) -> Snapshot:
    """Every key as it is now (what SAVE would write), with its time to live."""
    out: Snapshot = []
    async for key in r.scan_iter(count=1000):
        value = await r.dump(key)
        if value is not None:
            out.append((key, max(int(await r.pttl(key)), 0), value))
    return out


async def _restore(r: redis.Redis, snapshot: Snapshot) -> None:
    """Redis restarted on the older snapshot: what came after it is gone."""
    await r.flushall()
    for key, ttl, value in snapshot:
        await r.restore(key, ttl, value)


async def _note(desk: Desk, cid: str, text: str, **fields: str | None) -> None:
    now = datetime.now(UTC)
    note = ConversationEvent(conversation_id=cid, type=EventType.NOTE, actor="agent:mina", data={"text": text}, at=now)
    effects = Effects(cid).event(note)
    if fields:
        effects.set(**fields)
    await desk.parts.store.commit([effects], now)


def _notes(h: History) -> list[str]:
    return [str(e["data"]["text"]) for e in map(orjson.loads, h.events) if e["type"] == "note"]


def _texts(h: History) -> list[str]:
    return [str(orjson.loads(m)["text"]) for m in h.messages]


async def _archived(db: Database, cid: str) -> History:
    h = await history(db, cid)
    assert h is not None
    return h


async def _thread(desk: Desk, thread: str) -> str:
    cid = await desk.parts.store.find_thread("null", "main", thread)
    assert cid
    return cid


async def test_changes_after_a_restore_from_an_older_snapshot_never_take_the_record_back(
    r: redis.Redis, db: Database
) -> None:
    desk = Desk(r, db)
    await desk.ingest([message("my withdrawal is stuck", thread="t", user="u1")])
    cid = await _thread(desk, "t")
    await desk.archive()
    snapshot = await _snapshot(r)
    # What the snapshot will lose: archived, then gone from Redis.
    await desk.ingest([message("it has been two hours", thread="t", user="u1")])
    await _note(desk, cid, "checked the chain: stuck", assignee="alice", priority="high")
    await desk.archive()
    lost = await _archived(db, cid)
    assert lost.conversation["assignee"] == "alice"
    await _restore(r, snapshot)
    assert int(await r.hget(keys.conversation(cid), "version") or 0) < lost.conversation["rev"]  # type: ignore[misc]
    # After the restore: the customer writes again, an agent writes a note.
    await desk.ingest([message("any news?", thread="t", user="u1")])
    await _note(desk, cid, "asked the wallet team")
    await desk.archive()
    after = await _archived(db, cid)
    # The record did not go back: the state archived before the restore is kept...
    assert after.conversation["rev"] > lost.conversation["rev"]
    assert (after.conversation["assignee"], after.conversation["priority"]) == ("alice", "high")
    assert after.events[: len(lost.events)] == lost.events  # every archived event where it was
    # ... and what came after it is archived too, once.
    assert _notes(after) == ["checked the chain: stuck", "asked the wallet team"]
    assert _texts(after) == ["my withdrawal is stuck", "it has been two hours", "any news?"]
    assert after.conversation["message_count"] == 3
    assert after.conversation["status"] == "open"  # the customer's message after the restore is to answer
    # Redis was brought forward: it holds the record's state, at a version above the record's.
    h = {as_text(k): as_text(v) for k, v in (await r.hgetall(keys.conversation(cid))).items()}  # type: ignore[misc]
    assert int(h["version"]) >= after.conversation["rev"] > lost.conversation["rev"]
    assert (h["assignee"], h["priority"], h["message_count"]) == ("alice", "high", "3")
    assert await r.llen(keys.events(cid)) == len(after.events)  # type: ignore[misc]
    # Later changes archive as usual.
    await _note(desk, cid, "refunded", status="resolved")
    await desk.archive()
    later = await _archived(db, cid)
    assert later.conversation["rev"] == int(await r.hget(keys.conversation(cid), "version") or 0)  # type: ignore[misc]
    assert _notes(later) == ["checked the chain: stuck", "asked the wallet team", "refunded"]
    assert later.events[: len(after.events)] == after.events
    assert (later.conversation["status"], later.conversation["assignee"]) == ("resolved", "alice")


async def test_changes_the_snapshot_had_not_archived_yet_are_not_archived_again_over_newer_ones(
    r: redis.Redis, db: Database
) -> None:
    desk = Desk(r, db)
    await desk.ingest([message("my account is locked", thread="t", user="u1")])
    cid = await _thread(desk, "t")
    await _note(desk, cid, "identity checked", assignee="bob")
    snapshot = await _snapshot(r)  # its change entries are not archived yet: they come back with it
    await _note(desk, cid, "unlocked", status="resolved", assignee="carol")
    await desk.archive()
    lost = await _archived(db, cid)
    await _restore(r, snapshot)
    await desk.archive()  # nothing new: only the snapshot's own changes, older than the record
    after = await _archived(db, cid)
    assert (after.conversation["status"], after.conversation["assignee"]) == ("resolved", "carol")
    assert after.events == lost.events and after.messages == lost.messages
    assert after.conversation["rev"] >= lost.conversation["rev"]
    h = {as_text(k): as_text(v) for k, v in (await r.hgetall(keys.conversation(cid))).items()}  # type: ignore[misc]
    assert (h["status"], h["assignee"]) == ("resolved", "carol")
    assert int(h["version"]) > lost.conversation["rev"]
    assert await r.llen(keys.events(cid)) == len(lost.events)  # type: ignore[misc]


async def test_a_message_delivered_again_after_the_restore_is_archived_once(r: redis.Redis, db: Database) -> None:
    desk = Desk(r, db)
    await desk.ingest([message("deposit missing", thread="t", user="u1", message_id="m-1")])
    cid = await _thread(desk, "t")
    await desk.archive()
    snapshot = await _snapshot(r)
    await desk.ingest([message("tx 0xabc", thread="t", user="u1", message_id="m-2")])
    await desk.ingest([message("screenshot", thread="t", user="u1", message_id="m-5")])
    await desk.archive()
    await _restore(r, snapshot)
    # The platform's cursor was in Redis too: the message comes again, then a new one.
    await desk.ingest([message("tx 0xabc", thread="t", user="u1", message_id="m-2")])
    await desk.ingest([message("still nothing", thread="t", user="u1", message_id="m-3")])
    await desk.archive()
    after = await _archived(db, cid)
    ids = Counter(str(orjson.loads(m)["message_id"]) for m in after.messages)
    assert ids == Counter({"m-1": 1, "m-2": 1, "m-5": 1, "m-3": 1})
    assert after.conversation["message_count"] == 4
    assert await r.zcard(keys.messages(cid)) == 4
    # Brought forward, Redis knows every message the record holds: delivered again, none is ingested again.
    await desk.ingest([message("screenshot", thread="t", user="u1", message_id="m-5")])
    await desk.ingest([message("found it, thanks", thread="t", user="u1", message_id="m-4")])
    await desk.archive()
    assert _texts(await _archived(db, cid)) == [
        "deposit missing",
        "tx 0xabc",
        "screenshot",
        "still nothing",
        "found it, thanks",
    ]


async def test_the_record_never_takes_an_older_version_of_a_conversation(r: redis.Redis, db: Database) -> None:
    """Whoever writes last (two archivers, a replay), a conversation's row keeps its newest version."""
    desk = Desk(r, db)
    await desk.ingest([message("hello", thread="t", user="u1")])
    cid = await _thread(desk, "t")
    await desk.archive()
    record = Record(db)
    c = conversations.c
    async with db.engine.connect() as conn:
        row = dict((await conn.execute(select(conversations).where(c.id == cid))).one()._mapping)
    row.pop("search", None)
    newer = {**row, "rev": row["rev"] + 2, "assignee": "alice", "updated_at": row["updated_at"] + 2}
    older = {**row, "rev": row["rev"] + 1, "assignee": "bob", "updated_at": row["updated_at"] + 1}
    await record.write(Batch(conversations=[newer]))
    await record.write(Batch(conversations=[older]))
    async with db.engine.connect() as conn:
        kept = (await conn.execute(select(c.rev, c.assignee).where(c.id == cid))).one()
    assert tuple(kept) == (row["rev"] + 2, "alice")


async def test_an_archiver_started_after_the_restore_brings_forward_what_nothing_changes(
    r: redis.Redis, db: Database
) -> None:
    """A conversation the snapshot holds at an older state that nobody touches again is found by
    the archiver at its start: the inbox does not show the older state, and it can be evicted."""
    desk = Desk(r, db)
    await desk.ingest([message("card declined", thread="t", user="u1")])
    await desk.send()  # the bot's answer is sent: nothing holds the conversation in Redis but its state
    cid = await _thread(desk, "t")
    await desk.archive()
    snapshot = await _snapshot(r)  # everything archived: no change entry comes back with it
    await _note(desk, cid, "bank contacted", status="resolved", assignee="dana")
    await desk.archive()
    lost = await _archived(db, cid)
    await _restore(r, snapshot)
    assert await r.hget(keys.conversation(cid), "status") == b"open"  # type: ignore[misc]
    await Desk(r, db).archive()  # the processes start again
    h = {as_text(k): as_text(v) for k, v in (await r.hgetall(keys.conversation(cid))).items()}  # type: ignore[misc]
    assert (h["status"], h["assignee"]) == ("resolved", "dana")
    assert int(h["version"]) > lost.conversation["rev"]
    after = await _archived(db, cid)
    assert after.events == lost.events and after.conversation["rev"] == int(h["version"])
    evictor = Evictor(r, db, 4, quiet_period_s=0)
    await evictor.round(int(datetime.now(UTC).timestamp() * 1000) + 10_000)
    assert not await r.exists(keys.conversation(cid))  # the record holds its version: it may leave


async def test_an_archiver_that_finds_the_id_counters_behind_looks_for_older_conversations(
    r: redis.Redis, db: Database
) -> None:
    """Redis restored under a running archiver: the id counters behind the record's say so."""
    desk = Desk(r, db)
    await desk.ingest([message("login fails", thread="a", user="u1")])
    a = await _thread(desk, "a")
    await desk.archive()
    snapshot = await _snapshot(r)
    await _note(desk, a, "reset sent", status="resolved")
    await desk.ingest([message("new question", thread="b", user="u2")])  # an id the snapshot did not count
    await desk.archive()
    await _restore(r, snapshot)
    await desk.archive()  # the same archiver, running on
    assert await r.hget(keys.conversation(a), "status") == b"resolved"  # type: ignore[misc]


async def test_a_running_archiver_notices_the_restore_without_a_new_conversation(
    r: redis.Redis, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Redis restored under a running archiver, the id counters not behind (no conversation was
    made after the snapshot): the archiver's clock in Redis went back, so it compares Redis with
    the record and brings forward what nothing changes again."""
    desk = Desk(r, db)
    await desk.ingest([message("login fails", thread="a", user="u1")])
    await desk.send()
    a = await _thread(desk, "a")
    await desk.archive()
    snapshot = await _snapshot(r)
    await _note(desk, a, "reset sent", status="resolved")
    await desk.archive()
    await _restore(r, snapshot)
    assert await r.hget(keys.conversation(a), "status") == b"open"  # type: ignore[misc]
    sweeps: list[object] = []
    real = archiver_module.sweep

    async def sweep(*args: Any) -> Any:
        sweeps.append(args)
        return await real(*args)

    monkeypatch.setattr(archiver_module, "sweep", sweep)
    await desk.archive()  # the same archiver, running on
    assert await r.hget(keys.conversation(a), "status") == b"resolved"  # type: ignore[misc]
    await desk.archive()  # checking again: nothing went back this time
    assert len(sweeps) == 1


def _erased_again() -> float:
    return REGISTRY.get_sample_value("helpline_archive_erased_again_total") or 0.0


async def _gone(r: redis.Redis, db: Database, cid: str, contact_id: str) -> None:
    """Nothing of the conversation or its person in Redis, nothing of it in the record."""
    assert [as_text(k) async for k in r.scan_iter(match=f"*conv:{cid}*")] == []
    assert [as_text(k) async for k in r.scan_iter(match=f"*reply:{cid}:*")] == []
    assert not await r.exists(keys.contact(contact_id))
    assert await r.zscore(keys.conversations_by_update(keys.conversation_partition(cid)), cid) is None
    async with db.engine.connect() as conn:
        assert (await conn.execute(select(conversations.c.id).where(conversations.c.id == cid))).all() == []
        assert (await conn.execute(select(contacts.c.id).where(contacts.c.id == contact_id))).all() == []
        for table in (messages, events, replies):
            assert (await conn.execute(select(table).where(table.c.conversation_id == cid))).all() == []
    assert (await search(db, Access(everything=True), Query("passport"))).hits == []


async def test_an_erasure_holds_when_redis_is_restored_from_a_snapshot_taken_before_it(
    r: redis.Redis, db: Database
) -> None:
    """The archiver starting after the restore erases from Redis again what the snapshot brought
    back of a person erased since, and archives nothing of it."""
    desk = Desk(r, db)
    await desk.ingest(
        [
            message("my passport number is X123", thread="a", user="erin"),
            message("card declined", thread="b", user="bob"),
        ]
    )
    await desk.send()
    a, b = await _thread(desk, "a"), await _thread(desk, "b")
    await desk.parts.store.commit([Effects(a).set(status="resolved")], datetime.now(UTC))
    await desk.archive()
    snapshot = await _snapshot(r)  # everything archived: no change entry comes back with it
    await erase_contact(r, db, 4, "null:main:erin", operator="dpo", reason="request 9")
    await _restore(r, snapshot)
    assert await r.exists(keys.conversation(a), keys.contact("null:main:erin")) == 2  # back in Redis
    before = _erased_again()
    await Desk(r, db).archive()  # the processes start again
    await _gone(r, db, a, "null:main:erin")
    assert await desk.parts.store.find_thread("null", "main", "a") is None
    assert _erased_again() == before + 1
    assert await r.hget(keys.conversation(b), "status") == b"open"  # type: ignore[misc]  # bob's stays
    assert await r.exists(keys.contact("null:main:bob"))
    await Desk(r, db).archive()
    async with db.engine.connect() as conn:
        assert (await conn.execute(select(conversations.c.id))).scalars().all() == [b]


async def test_an_erasure_holds_when_the_restored_snapshot_brings_back_changes_not_archived_yet(
    r: redis.Redis, db: Database
) -> None:
    """Restored under a running archiver that has compared Redis with the record already: the
    snapshot's change entries name the erased conversation, and the batch erases it again."""
    desk = Desk(r, db)
    await desk.archive()  # running: Redis compared with the record
    await desk.ingest(
        [
            message("my passport number is X123", thread="a", user="erin"),
            message("card declined", thread="b", user="bob"),
        ]
    )
    await desk.send()
    a, b = await _thread(desk, "a"), await _thread(desk, "b")
    await desk.parts.store.commit([Effects(a).set(status="resolved")], datetime.now(UTC))
    snapshot = await _snapshot(r)  # its change entries are not archived yet: they come back with it
    await desk.archive()
    await erase_contact(r, db, 4, "null:main:erin", operator="dpo")
    await _restore(r, snapshot)
    before = _erased_again()
    await desk.archive()  # the same archiver, running on (no id made since the snapshot: no new comparison)
    await _gone(r, db, a, "null:main:erin")
    assert _erased_again() == before + 1
    async with db.engine.connect() as conn:
        assert (await conn.execute(select(conversations.c.id))).scalars().all() == [b]


async def test_an_erased_persons_contact_restored_without_a_conversation_is_erased_again(
    r: redis.Redis, db: Database
) -> None:
    """The snapshot was taken after the person's conversations had left Redis: it brings back
    their contact alone, which no conversation leads to. The archiver starting again erases it
    from Redis too; a person who wrote again after their erasure keeps theirs."""
    desk = Desk(r, db)
    await desk.ingest(
        [message("my passport number is X123", thread="a", user="erin"), message("hi", thread="b", user="bob")]
    )
    await desk.send()
    a, b = await _thread(desk, "a"), await _thread(desk, "b")
    await desk.parts.store.commit(
        [Effects(a).set(status="resolved"), Effects(b).set(status="resolved")], datetime.now(UTC)
    )
    await desk.archive()
    await Evictor(r, db, 4, quiet_period_s=3600).round(int(datetime.now(UTC).timestamp() * 1000) + 3_700_000)
    assert not await r.exists(keys.conversation(a), keys.conversation(b))
    assert await r.exists(keys.contact("null:main:erin"))  # expiring after its own quiet period
    await erase_contact(r, db, 4, "null:main:bob", operator="dpo")
    await desk.ingest([message("back again", thread="c", user="bob")])  # bob writes again after his erasure
    snapshot = await _snapshot(r)
    await erase_contact(r, db, 4, "null:main:erin", operator="dpo", reason="request 9")
    await _restore(r, snapshot)
    assert await r.exists(keys.contact("null:main:erin"))  # back in Redis, with no conversation
    await Desk(r, db).archive()  # the processes start again
    assert not await r.exists(keys.contact("null:main:erin"))
    assert await r.exists(keys.contact("null:main:bob"), keys.conversation(await _thread(desk, "c"))) == 2
