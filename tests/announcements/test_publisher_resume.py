"""The publisher resuming a multi-part post: parts recorded by an earlier attempt are kept."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import ClassVar

import redis.asyncio as redis

from helpline.announcements.deliveries import DeliveryStore, PublishJob
from helpline.announcements.publisher import Publisher
from helpline.connectors.base import AccountSettings, Connector, ConnectorContext, SendProgress, SendResult
from helpline.connectors.errors import RateLimited
from helpline.connectors.publishing import Destination, OutboundPost
from helpline.routing import keys
from helpline.routing.bus import Entry
from helpline.routing.models import DeliveryState, OutboundReply


async def _no_ingest(messages: Sequence[object]) -> list[bool]:
    return []


class ThrottledThread(Connector):
    """Posts one part per call, then answers 429 while parts remain (a platform out of budget)."""

    platform: ClassVar[str] = "fakethread"

    def __init__(self) -> None:
        super().__init__(AccountSettings(platform=self.platform, name="main"), ConnectorContext(_no_ingest))
        self.posted: list[str] = []
        self.spent = False  # this attempt already posted its one part

    async def send(self, reply: OutboundReply, progress: SendProgress) -> SendResult:
        raise NotImplementedError

    async def publish(self, post: OutboundPost, progress: SendProgress) -> SendResult:
        for index, text in enumerate(post.parts):
            if index < len(progress.posted):
                continue
            if self.spent:
                raise RateLimited(0.001)
            self.posted.append(text)
            await progress.record(f"id-{len(self.posted)}")
            self.spent = True
        return SendResult(tuple(progress.posted))


async def test_a_resumed_thread_keeps_the_parts_posted_before_and_posts_each_part_once(r: redis.Redis) -> None:
    connector = ThrottledThread()
    publisher = Publisher(r, {(connector.platform, connector.account): connector})
    post = OutboundPost(
        post_id="a1:t0",
        platform=connector.platform,
        account=connector.account,
        destination=Destination.TIMELINE,
        parts=("one", "two", "three"),
    )
    job = PublishJob(announcement_id="a1", delivery_id="t0", post=post)
    await DeliveryStore(r).enqueue("a1", [("t0", "fakethread:main:timeline", "")])
    stream = keys.publish_stream(connector.platform, connector.account)
    for attempt in range(6):  # each attempt posts one part, then is deferred by a 429
        entry = Entry(stream, f"{attempt + 1}-0", job.model_dump_json().encode())
        connector.spent = False
        await asyncio.sleep(0.01)  # the 429's block (1 ms) is over
        assert await publisher.handle_batch([entry]) == {}
        state = (await DeliveryStore(r).states("a1", ["t0"]))[0]
        if state == DeliveryState.SENT.value:
            break
    assert connector.posted == ["one", "two", "three"]
    record = (await DeliveryStore(r).list("a1"))[0]
    assert record.state is DeliveryState.SENT
    assert list(record.platform_ids) == ["id-1", "id-2", "id-3"]
    raw = await r.hget(keys.announcement_delivery("a1", "t0"), "parts")
    assert json.loads(raw or b"[]") == ["id-1", "id-2", "id-3"]


async def test_the_promoter_survives_an_unexpected_error(r: redis.Redis) -> None:
    from helpline.announcements.publisher import run_promoter

    connector = ThrottledThread()
    publisher = Publisher(r, {(connector.platform, connector.account): connector})
    calls = 0

    async def flaky(limit: int = 500) -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("a bug in one sweep")
        return 0

    publisher.promote_due = flaky  # type: ignore[method-assign]
    stop = asyncio.Event()
    task = asyncio.create_task(run_promoter(publisher, stop, interval=0.01))
    await asyncio.sleep(0.1)
    stop.set()
    await task  # returns normally: the loop went on after the error
    assert calls > 1


class Silent(ThrottledThread):
    """The platform took the request and never answered (a read timeout)."""

    platform: ClassVar[str] = "fakesilent"

    async def publish(self, post: OutboundPost, progress: SendProgress) -> SendResult:
        from helpline.connectors.errors import Uncertain

        self.posted.append(post.parts[0])
        raise Uncertain("read timeout")


async def test_a_post_without_an_answer_is_uncertain_and_not_posted_again(r: redis.Redis) -> None:
    connector = Silent()
    publisher = Publisher(r, {(connector.platform, connector.account): connector})
    post = OutboundPost(
        post_id="a2:t0",
        platform=connector.platform,
        account=connector.account,
        destination=Destination.TIMELINE,
        parts=("maintenance tonight",),
    )
    job = PublishJob(announcement_id="a2", delivery_id="t0", post=post)
    await DeliveryStore(r).enqueue("a2", [("t0", "fakesilent:main:timeline", "")])
    stream = keys.publish_stream(connector.platform, connector.account)
    for attempt in range(3):  # redelivered: it must not be posted a second time
        await publisher.handle_batch([Entry(stream, f"{attempt + 1}-0", job.model_dump_json().encode())])
    assert connector.posted == ["maintenance tonight"]
    assert (await DeliveryStore(r).states("a2", ["t0"]))[0] == DeliveryState.UNCERTAIN.value


class Refusing(ThrottledThread):
    """A platform that refuses the account's token until `accepts` is set."""

    platform: ClassVar[str] = "fakerefusing"
    accepts = False

    async def publish(self, post: OutboundPost, progress: SendProgress) -> SendResult:
        from helpline.connectors.errors import AuthFailed

        if not self.accepts:
            raise AuthFailed("the access token was revoked")
        self.posted.append(post.parts[0])
        return SendResult(("id-1",))


async def test_a_revoked_token_makes_the_account_wait_and_down_not_the_announcement_failed(r: redis.Redis) -> None:
    connector = Refusing()
    publisher = Publisher(r, {(connector.platform, connector.account): connector})
    publisher.backoff.cap = 0.05  # tried again every 50 ms here (60 s by default)
    post = OutboundPost(
        post_id="a3:t0",
        platform=connector.platform,
        account=connector.account,
        destination=Destination.TIMELINE,
        parts=("maintenance tonight",),
    )
    job = PublishJob(announcement_id="a3", delivery_id="t0", post=post)
    await DeliveryStore(r).enqueue("a3", [("t0", "fakerefusing:main:timeline", "")])
    stream = keys.publish_stream(connector.platform, connector.account)
    assert await publisher.handle_batch([Entry(stream, "1-0", job.model_dump_json().encode())]) == {}
    assert (await DeliveryStore(r).states("a3", ["t0"]))[0] == DeliveryState.QUEUED.value
    assert await r.zcard(keys.publish_delayed(connector.platform, connector.account)) == 1  # waits
    health = connector.health()
    assert health.status == "down" and "credentials refused" in (health.last_error or "")
    connector.accepts = True
    await asyncio.sleep(0.06)
    assert await publisher.promote_due() == 1
    [(entry_id, fields)] = (await r.xrange(stream))[-1:]
    await publisher.handle_batch([Entry(stream, entry_id.decode(), fields[b"m"])])
    assert connector.posted == ["maintenance tonight"]
    assert (await DeliveryStore(r).states("a3", ["t0"]))[0] == DeliveryState.SENT.value
    assert connector.health().status == "ok"
