from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as redis
from alembic import command
from sqlalchemy import event

from helpline.archive.database import Database, alembic_config, migrate
from helpline.archive.search import Access, BadQuery, Query, search
from helpline.routing.models import ConversationEvent, EventType, MessageKind
from helpline.routing.store import Effects
from tests.archive.helpers import Desk
from tests.factories import message

EVERYTHING = Access(everything=True)


async def _desk(r: redis.Redis, db: Database) -> Desk:
    desk = Desk(r, db, teams=[{"id": "support", "default": True}, {"id": "security"}])
    await desk.ingest(
        [
            message("출금이 아직 안 됐어요", thread="ko", user="kim", language="ko"),
            message("提现失败了，请帮忙", thread="zh", user="wang", language="zh"),
            message("出金できないです", thread="ja", user="sato", language="ja"),
            message("My withdrawal is stuck since Monday", thread="en", user="whale_trader", language="en"),
            message("deposit arrived, thanks", thread="en2", user="alice", language="en", kind=MessageKind.MENTION),
        ]
    )
    return desk


async def ids(db: Database, access: Access, query: Query) -> list[str]:
    return [h.conversation["thread_key"] for h in (await search(db, access, query, limit=50)).hits]


async def test_two_character_korean_chinese_japanese_terms_match(r: redis.Redis, db: Database) -> None:
    desk = await _desk(r, db)
    await desk.archive()
    assert await ids(db, EVERYTHING, Query("출금")) == ["ko"]
    assert await ids(db, EVERYTHING, Query("提现")) == ["zh"]
    assert await ids(db, EVERYTHING, Query("出金")) == ["ja"]
    assert await ids(db, EVERYTHING, Query("Withdrawal STUCK")) == ["en"]
    assert await ids(db, EVERYTHING, Query("withdrawal deposit")) == []  # every word must match
    assert await ids(db, EVERYTHING, Query("whale_trader")) == ["en"]  # the contact's handle
    hit = (await search(db, EVERYTHING, Query("출금"))).hits[0]
    assert hit.highlights == ["<mark>출금</mark>이 아직 안 됐어요"]


async def test_replies_and_notes_are_found(r: redis.Redis, db: Database) -> None:
    desk = await _desk(r, db)
    cid = await desk.parts.store.find_thread("null", "main", "en2")
    assert cid is not None
    note = ConversationEvent(
        conversation_id=cid,
        type=EventType.NOTE,
        actor="agent:mina",
        reason="internal note",
        data={"text": "customer asked about staking rewards"},
    )
    await desk.parts.store.commit([Effects(cid).event(note)], datetime.now(UTC))
    await desk.archive()
    assert await ids(db, EVERYTHING, Query("staking")) == ["en2"]
    # The bot's replies, in the customer's language where it has one.
    assert set(await ids(db, EVERYTHING, Query("thanks got"))) == {"zh", "ja", "en", "en2"}
    assert await ids(db, EVERYTHING, Query("접수")) == ["ko"]


async def test_permission_filtering_happens_in_the_query(r: redis.Redis, db: Database) -> None:
    desk = await _desk(r, db)
    store = desk.parts.store
    secret = await store.find_thread("null", "main", "en")
    assert secret is not None
    await store.commit([Effects(secret).set(team="security")], datetime.now(UTC))
    await desk.archive()
    agent = Access(username="mina", teams=("support",))
    assert "en" not in await ids(db, agent, Query())
    assert await ids(db, agent, Query("withdrawal")) == []
    assert await ids(db, Access(username="sam", teams=("security",)), Query("withdrawal")) == ["en"]
    # Assigned to her: she sees it whatever its team.
    await store.commit([Effects(secret).set(assignee="mina")], datetime.now(UTC))
    await desk.archive()
    assert await ids(db, agent, Query("withdrawal")) == ["en"]
    # Marketing sees public conversations only; a page of one is never short of what it may see.
    marketing = Access(public_only=True)
    assert await ids(db, marketing, Query()) == ["en2"]
    assert len((await search(db, agent, Query(), limit=1)).hits) == 1


async def test_filters_order_and_cursor_paging(r: redis.Redis, db: Database) -> None:
    desk = await _desk(r, db)
    await desk.archive()
    assert await ids(db, EVERYTHING, Query(language="ko")) == ["ko"]
    assert await ids(db, EVERYTHING, Query(platform="x")) == []
    assert await ids(db, EVERYTHING, Query(status="resolved")) == []
    assert await ids(db, EVERYTHING, Query(label="vip")) == []
    everything = await ids(db, EVERYTHING, Query())
    assert len(everything) == 5
    seen: list[str] = []
    cursor = None
    while True:
        page = await search(db, EVERYTHING, Query(), limit=2, cursor=cursor)
        seen += [h.conversation["thread_key"] for h in page.hits]
        times = [h.conversation["updated_at"] for h in page.hits]
        assert times == sorted(times, reverse=True)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == everything
    future = int(datetime.now(UTC).timestamp() * 1000) + 60_000
    assert await ids(db, EVERYTHING, Query(since_ms=future)) == []
    assert len(await ids(db, EVERYTHING, Query(until_ms=future))) == 5
    with pytest.raises(BadQuery, match="cursor"):
        await search(db, EVERYTHING, Query(), cursor="nonsense")
    assert await ids(db, EVERYTHING, Query("' OR 1=1 --")) == []  # quotes are data, not syntax


async def _threads(db: Database, text: str, limit: int) -> list[tuple[str, int]]:
    """Every hit of a text search, page by page: (thread key, updated_at)."""
    out: list[tuple[str, int]] = []
    cursor = None
    while True:
        page = await search(db, EVERYTHING, Query(text), limit=limit, cursor=cursor)
        out += [(h.conversation["thread_key"], h.conversation["updated_at"]) for h in page.hits]
        cursor = page.next_cursor
        if cursor is None:
            return out


async def test_text_search_stays_newest_first_when_conversations_change(r: redis.Redis, db: Database) -> None:
    desk = Desk(r, db)
    await desk.ingest(
        [message(f"withdrawal question {i}", thread=f"t{i}", user=f"u{i}", language="en") for i in range(6)]
    )
    await desk.archive()
    found = await search(db, EVERYTHING, Query("withdrawal"), limit=50)
    by_thread = {h.conversation["thread_key"].rsplit(":", 1)[-1]: h.conversation["id"] for h in found.hits}
    base = int(datetime.now(UTC).timestamp() * 1000) + 60_000
    later = {"t5": base + 30, "t3": base + 20, "t0": base + 10, "t1": base + 10, "t2": base + 5, "t4": base + 1}
    for _ in range(2):  # the same change archived twice leaves the same rows
        await desk.parts.store.commit(
            [Effects(by_thread[t]).set(updated_at=at) for t, at in later.items()], datetime.now(UTC)
        )
        await desk.archive()
        for limit in (1, 2, 50):
            hits = await _threads(db, "withdrawal", limit)
            order = [thread.rsplit(":", 1)[-1] for thread, _ in hits]
            assert [at for _, at in hits] == sorted(later.values(), reverse=True)
            assert order[:2] == ["t5", "t3"] and set(order[2:4]) == {"t0", "t1"} and order[4:] == ["t2", "t4"]
    if db.is_sqlite:  # one index row per conversation, none left at an id given up
        async with db.engine.connect() as conn:
            orphans = (
                await conn.exec_driver_sql(
                    "SELECT count(*) FROM conversation_search WHERE rowid NOT IN (SELECT num FROM conversations)"
                )
            ).scalar()
            rows = (await conn.exec_driver_sql("SELECT count(*) FROM conversation_search")).scalar()
        assert (orphans, rows) == (0, 6)


async def test_sqlite_text_search_reads_matches_newest_first_without_sorting_them(r: redis.Redis, db: Database) -> None:
    if not db.is_sqlite:
        pytest.skip("the search index's row order is SQLite's")
    desk = await _desk(r, db)
    await desk.archive()
    statements: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if "conversation_search" in statement:
            statements.append((statement, parameters))

    event.listen(db.engine.sync_engine, "before_cursor_execute", capture)
    try:
        assert await ids(db, Access(teams=("support",)), Query("withdrawal")) == ["en"]
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", capture)
    assert len(statements) == 1
    async with db.engine.connect() as conn:
        plan = " / ".join(
            row[3]
            for row in (await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statements[0][0], statements[0][1])).all()
        )
    assert "conversation_search VIRTUAL TABLE" in plan.split(" / ")[0], plan  # the index drives the query
    assert "TEMP B-TREE" not in plan, plan  # and no sort of every match


async def test_sqlite_listing_walks_the_newest_first_index_without_sorting_ties(r: redis.Redis, db: Database) -> None:
    if not db.is_sqlite:
        pytest.skip("SQLite's plan (PostgreSQL chooses by its statistics)")
    desk = await _desk(r, db)
    await desk.archive()
    statements: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if "ORDER BY" in statement:
            statements.append((statement, parameters))

    event.listen(db.engine.sync_engine, "before_cursor_execute", capture)
    try:
        assert len(await ids(db, EVERYTHING, Query())) == 5
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", capture)
    async with db.engine.connect() as conn:
        plan = " / ".join(
            row[3]
            for row in (await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statements[0][0], statements[0][1])).all()
        )
    assert "conversations_newest" in plan and "TEMP B-TREE" not in plan, plan


async def test_sqlite_upgrade_orders_an_existing_search_index(r: redis.Redis, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/old.db"
    migrate(url)
    db = Database(url)
    try:
        await (await _desk(r, db)).archive()  # written by today's code, then taken back to revision 0001
        await db.close()
        command.downgrade(alembic_config(url), "0001")
        db = Database(url)
        async with db.engine.connect() as conn:  # the row ids revision 0001 gave: partition << 40 | sequence
            nums = (await conn.exec_driver_sql("SELECT num FROM conversations")).scalars().all()
        assert nums and all(num < 1 << 48 for num in nums)
        before = await ids(db, EVERYTHING, Query())
        await db.close()
        migrate(url)
        db = Database(url)
        assert await ids(db, EVERYTHING, Query()) == before
        assert await ids(db, EVERYTHING, Query("출금")) == ["ko"]
        assert [thread for thread, _ in await _threads(db, "withdrawal OR deposit", 1)] == []  # every word must match
        thanked = await _threads(db, "thanks", 1)  # the English ones: a message and the bot's answer
        assert [t for t, _ in thanked] == [t for t in before if t in {t for t, _ in thanked}]
        assert len(thanked) >= 2
    finally:
        await db.close()
