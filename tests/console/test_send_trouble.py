"""The send-trouble views over the API: a conversation whose reply the platform refused is listed
in `view=failed` (with a text search too), flagged `failed_sends` in every list, and counted."""

from __future__ import annotations

from pathlib import Path

import redis.asyncio as redis

from helpline.archive.archiver import Archiver
from helpline.archive.database import Database, migrate
from helpline.archive.record import Record
from helpline.connectors.base import AccountSettings, ConnectorContext, SendProgress, SendResult
from helpline.connectors.errors import Permanent
from helpline.connectors.null import NullConnector
from helpline.connectors.ratelimit import SharedRateLimiter
from helpline.routing.models import OutboundReply
from helpline.routing.sender import Sender
from tests.factories import sender_consumer

from .helpers import make_desk


class Refusing(NullConnector):
    """A platform that refuses every reply for good (as a chat that blocked the bot does)."""

    async def send(self, reply: OutboundReply, progress: SendProgress) -> SendResult:
        raise Permanent("Forbidden: bot was blocked by the user")


async def test_a_refused_reply_flags_its_conversation_and_lists_it_in_failed_sends(
    r: redis.Redis, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path}/record.db"
    migrate(url)
    desk = await make_desk(r, database={"url": url})
    refused = await desk.conversation("my withdrawal is stuck", thread="a", user="ann")
    fine = await desk.conversation("my withdrawal is late", thread="b", user="ben")
    c = desk.client()
    sue = await desk.token("sue")
    assert (await c.post(f"/api/v1/conversations/{refused}/reply", json={"text": "On it"}, headers=sue)).is_success
    platform = Refusing(AccountSettings(platform="null", name="main"), ConnectorContext(ingest=desk.parts.bus.ingest))
    consumer = sender_consumer(
        desk.parts,
        Sender(
            desk.parts.client,
            {("null", "main"): platform},
            desk.parts.store.partitions,
            limiter=SharedRateLimiter(desk.parts.client),
        ),
        name="test-sender",
    )
    consumer.block_ms = 5
    await consumer.ensure_groups()
    await consumer.step()

    page = (await c.get("/api/v1/conversations?view=all&counts=true", headers=sue)).json()
    flags = {i["conversation"]["id"]: (i["failed_sends"], i["uncertain_sends"]) for i in page["items"]}
    assert flags == {refused: (1, 0), fine: (0, 0)}
    assert page["counts"]["failed"] == 1 and page["counts"]["uncertain"] == 0
    for query in ("view=failed", "view=failed&q=withdrawal", "view=failed&sort=waiting"):
        listed = (await c.get(f"/api/v1/conversations?{query}", headers=sue)).json()["items"]
        assert [i["conversation"]["id"] for i in listed] == [refused], query
    for query in ("view=uncertain", "view=uncertain&q=withdrawal"):
        assert (await c.get(f"/api/v1/conversations?{query}", headers=sue)).json()["items"] == [], query

    # archived: the text search runs on the record, which knows no delivery states
    db = Database(url)
    await Archiver(r, Record(db), desk.parts.settings.redis.partitions, "test-archiver").catch_up()
    await db.close()
    listed = (await c.get("/api/v1/conversations?view=failed&q=withdrawal", headers=sue)).json()["items"]
    assert [i["conversation"]["id"] for i in listed] == [refused]
    listed = (await c.get("/api/v1/conversations?view=all&q=withdrawal", headers=sue)).json()["items"]
    assert {i["conversation"]["id"] for i in listed} == {refused, fine}
    for client in desk.clients:
        await client.aclose()
