import time
from datetime import UTC, datetime, timedelta

import redis.asyncio as redis
from sqlalchemy import select

from helpline.archive.database import Database
from helpline.archive.retention import DAY_MS, apply_retention
from helpline.archive.schema import conversations, messages
from helpline.routing import keys
from helpline.routing.store import Effects
from tests.archive.helpers import Desk
from tests.factories import message


def _days(**kind: float) -> dict[str, float]:
    out = {
        "conversations_days": 0.0,
        "delivery_records_days": 0.0,
        "dead_letters_days": 0.0,
        "insights_detail_days": 0.0,
    }
    out.update({f"{k}_days": v for k, v in kind.items()})
    return out


async def test_old_resolved_conversations_go_from_sql_and_redis(r: redis.Redis, db: Database) -> None:
    desk = Desk(r, db)
    await desk.ingest(
        [message("old one", thread="old"), message("open one", thread="open"), message("recent", thread="new")]
    )
    store = desk.parts.store
    old, opened, new = [await store.find_thread("null", "main", t) for t in ("old", "open", "new")]
    assert old and opened and new
    long_ago = datetime.now(UTC) - timedelta(days=40)
    await store.commit([Effects(old).set(status="resolved")], long_ago)
    await r.hset(keys.conversation(old), "updated_at", int(long_ago.timestamp() * 1000))  # type: ignore[misc]
    await store.commit([Effects(new).set(status="resolved")], datetime.now(UTC))
    await desk.archive()
    async with db.engine.begin() as conn:  # the record says the open one is old too: open stays anyway
        await conn.execute(
            conversations.update()
            .where(conversations.c.id == opened)
            .values(updated_at=int(long_ago.timestamp() * 1000))
        )
    done = await apply_retention(r, db, 4, [], **_days(conversations=30))
    assert done["conversations"] == 1
    async with db.engine.connect() as conn:
        left = set((await conn.execute(select(conversations.c.id))).scalars().all())
        kept_messages = (await conn.execute(select(messages.c.conversation_id))).scalars().all()
    assert left == {opened, new} and old not in kept_messages
    assert not await r.exists(keys.conversation(old))
    assert await store.find_thread("null", "main", "old") is None
    assert await apply_retention(r, db, 4, [], **_days(conversations=30)) == {
        "conversations": 0,
        "delivery_records": 0,
        "dead_letters": 0,
        "insights_days": 0,
    }


async def test_dead_letters_and_insights_days_expire(r: redis.Redis, db: Database) -> None:
    now = int(time.time() * 1000)
    await r.xadd(keys.dead_letters(0), {"error": "old"}, id=f"{now - 40 * DAY_MS}-0")
    await r.xadd(keys.dead_letters(0), {"error": "new"}, id=f"{now - DAY_MS}-0")
    await r.xadd(keys.publish_dead_letters("null", "main"), {"error": "old"}, id=f"{now - 40 * DAY_MS}-0")
    old_day = (datetime.now(UTC) - timedelta(days=500)).strftime("%Y%m%d")
    today = datetime.now(UTC).strftime("%Y%m%d")
    for day in (old_day, today):
        await r.sadd(keys.insights_scopes(day), "all")  # type: ignore[misc]
        await r.hset(keys.insights_counters(day, "all", "team"), "created|support", 3)  # type: ignore[misc]
        await r.hset(keys.insights_histograms(day, "all"), "frt|4", 1)  # type: ignore[misc]
    done = await apply_retention(r, db, 4, [("null", "main")], **_days(dead_letters=30, insights_detail=400))
    assert done["dead_letters"] == 2 and done["insights_days"] == 1
    assert [f[b"error"] for _, f in await r.xrange(keys.dead_letters(0))] == [b"new"]
    assert not await r.exists(
        keys.insights_counters(old_day, "all", "team"),
        keys.insights_histograms(old_day, "all"),
        keys.insights_scopes(old_day),
    )
    assert await r.exists(keys.insights_counters(today, "all", "team")) == 1
