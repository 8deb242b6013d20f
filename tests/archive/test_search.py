from datetime import UTC, datetime

import pytest
import redis.asyncio as redis

from helpline.archive.database import Database
from helpline.archive.search import Access, BadQuery, Query, search
from helpline.routing.models import ConversationEvent, EventType, MessageKind
from helpline.routing.store import Effects
from tests.archive.helpers import Desk
from tests.factories import message

EVERYTHING = Access(everything=True)


async def _desk(r: redis.Redis, db: Database) -> Desk:
    desk = Desk(r, db, teams=[{"id": "support", "default": True}, {"id": "security"}])
    await desk.ingest([
        message("출금이 아직 안 됐어요", thread="ko", user="kim", language="ko"),
        message("提现失败了，请帮忙", thread="zh", user="wang", language="zh"),
        message("出金できないです", thread="ja", user="sato", language="ja"),
        message("My withdrawal is stuck since Monday", thread="en", user="whale_trader", language="en"),
        message("deposit arrived, thanks", thread="en2", user="alice", language="en",
                kind=MessageKind.MENTION),
    ])
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
    note = ConversationEvent(conversation_id=cid, type=EventType.NOTE, actor="agent:mina", reason="internal note",
                             data={"text": "customer asked about staking rewards"})
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
