"""The console reads search, contact history and evicted conversations from the record."""

import re
import time
from datetime import UTC, datetime

import redis.asyncio as redis

from helpline.archive.archiver import Archiver, archive_health
from helpline.archive.database import Database
from helpline.archive.evict import Evictor
from helpline.archive.record import Record
from helpline.routing import keys
from helpline.routing.store import Effects
from tests.console.helpers import make_desk


async def test_search_history_and_reopen_go_through_the_record(r: redis.Redis, db: Database, database_url: str) -> None:
    desk = await make_desk(r, database={"url": database_url})
    archiver = Archiver(r, Record(db), desk.parts.settings.redis.partitions, "console-test")
    old = await desk.conversation("출금이 안돼요 (old)", thread="old", user="kim", language="ko")
    vip = await desk.conversation("vip 출금 문제", thread="vip", user="whale", language="ko")
    await desk.parts.store.commit([Effects(old).set(status="resolved")], datetime.now(UTC))
    await archiver.catch_up()
    assert await Evictor(r, db, desk.parts.settings.redis.partitions, 0).round(int(time.time() * 1000) + 1000) == 1
    assert not await r.exists(keys.conversation(old))
    fresh = await desk.conversation("출금 again, not archived yet", thread="new", user="kim", language="ko")
    c = desk.client()
    desk.parts.health.add_component("archive", lambda: archive_health(r, desk.parts.settings.redis.partitions))
    await desk.parts.health.publish(r)  # its heartbeat (what /healthz reads the components from)
    health = (await c.get("/healthz")).json()
    archive = [h for h in health["components"] if h["name"] == "archive"]
    assert len(archive) == 1 and archive[0]["status"] == "ok"  # behind by seconds: normal work
    assert re.match(r"[1-9]\d* changes not in the record yet, oldest \d+ s$", archive[0]["detail"])  # behind
    amy = await desk.token("amy")  # team support: not the vip conversation
    found = (await c.get("/api/v1/conversations", params={"q": "출금"}, headers=amy)).json()["items"]
    ids = [s["conversation"]["id"] for s in found]
    assert ids == [fresh, old]  # the unarchived one first, the evicted one from the record
    assert vip not in ids
    assert "출금이 안돼요" in found[1]["preview"]
    sue = await desk.token("sue")
    everything = (await c.get("/api/v1/conversations", params={"q": "출금"}, headers=sue)).json()["items"]
    assert {s["conversation"]["id"] for s in everything} == {fresh, old, vip}
    # The person's page lists the evicted conversation; opening it restores it from the record.
    contact = (await c.get("/api/v1/contacts/null:main:kim", headers=amy)).json()
    assert {s["conversation"]["id"] for s in contact["conversations"]} == {old, fresh}
    detail = await c.get(f"/api/v1/conversations/{fresh}", headers=amy)
    assert detail.status_code == 200
    texts = [item["text"] for item in detail.json()["timeline"] if item["kind"] == "message"]
    assert "출금이 안돼요 (old)" in texts  # the earlier conversation, read from the record
    opened = await c.get(f"/api/v1/conversations/{old}", headers=amy)
    assert opened.status_code == 200
    assert await r.exists(keys.conversation(old))
    bob = await desk.token("bob")  # team vip may not see it: no restore, not found
    await r.delete(keys.conversation(old))
    assert (await c.get(f"/api/v1/conversations/{old}", headers=bob)).status_code in (403, 404)
    assert not await r.exists(keys.conversation(old))
    await desk.svc.record.close()
