"""A Redis restart (AOF always) in the middle of a post leaves no reply "sending" to be taken for
"uncertain": a reply that was not posted goes back to "queued" (the write is retried until Redis
answers), so the next attempt posts it instead of showing a reply no customer ever got as
maybe-posted; a reply that was posted is recorded sent when Redis is back."""

from __future__ import annotations

import asyncio
import threading

import redis.asyncio as redis

from helpline.connectors.base import AccountSettings, Connector, ConnectorContext, SendProgress, SendResult
from helpline.connectors.errors import Transient
from helpline.connectors.ratelimit import SharedRateLimiter
from helpline.routing import keys
from helpline.routing.models import DeliveryState, OutboundReply
from helpline.routing.sender import Sender
from tests.redis_server import RedisServer

from .sending import PARTITIONS, no_ingest, outbound_consumer, queue_reply


class RestartsRedis(Connector):
    """A platform (no idempotency keys) that is unreachable on the first attempt, while the desk's
    Redis restarts underneath the sender; later attempts are posted."""

    platform = "null"

    def __init__(self, server: RedisServer) -> None:
        super().__init__(AccountSettings(platform="null", name="main"), ConnectorContext(ingest=no_ingest))
        self.server = server
        self.attempts = 0
        self.posts: list[str] = []
        self.restarted = threading.Event()

    async def send(self, reply: OutboundReply, progress: SendProgress) -> SendResult:
        self.attempts += 1
        if self.attempts == 1:
            self.server.stop()  # SIGTERM: the AOF (fsync always) has the "sending" mark

            def restart() -> None:
                threading.Event().wait(2.0)
                self.server.start()
                self.restarted.set()

            threading.Thread(target=restart, daemon=True).start()
            raise Transient("telegram: httpx.ConnectError")
        self.posts.append(reply.reply_id)
        return SendResult((f"p-{len(self.posts)}",))


async def test_a_reply_not_posted_during_a_redis_restart_is_posted_after_it(own_redis: RedisServer) -> None:
    r = redis.Redis.from_url(own_redis.url)
    reply = await queue_reply(r)
    platform = RestartsRedis(own_redis)
    sender = Sender(
        r,
        {("null", "main"): platform},
        PARTITIONS,
        backoff=(0.05, 0.1),  # the platform's back-off
        limiter=SharedRateLimiter(r),
    )
    consumer = outbound_consumer(r, sender, retry_idle_ms=30)
    await consumer.ensure_groups()
    try:
        await consumer.step()  # the attempt during which Redis goes away
        assert platform.restarted.is_set() and platform.attempts == 1
        state = (await r.hget(keys.delivery(1, reply.reply_id), "state") or b"").decode()
        assert state == DeliveryState.QUEUED.value  # not left "sending"
        for _ in range(20):
            if platform.posts:
                break
            await asyncio.sleep(0.05)
            await sender.promote_due()  # the reply waited out the platform's back-off
            await consumer.step()
        assert platform.posts == [reply.reply_id]
        state = (await r.hget(keys.delivery(1, reply.reply_id), "state") or b"").decode()
        assert state == DeliveryState.SENT.value
    finally:
        await r.aclose()


class PostsWhileRedisDies(Connector):
    """A platform (no idempotency keys) that takes every post; during the first, the desk's Redis
    dies (SIGKILL) and comes back only after the sender's lease has run out by its clock."""

    platform = "null"

    def __init__(self, server: RedisServer, outage_s: float) -> None:
        super().__init__(AccountSettings(platform="null", name="main"), ConnectorContext(ingest=no_ingest))
        self.server = server
        self.outage_s = outage_s
        self.posts: list[str] = []
        self.restarted = threading.Event()

    async def send(self, reply: OutboundReply, progress: SendProgress) -> SendResult:
        if not self.posts:
            self.server.stop(kill=True)

            def restart() -> None:
                threading.Event().wait(self.outage_s)
                self.server.start()
                self.restarted.set()

            threading.Thread(target=restart, daemon=True).start()
        self.posts.append(reply.reply_id)
        return SendResult((f"p-{len(self.posts)}",))


async def test_a_post_made_while_redis_is_down_past_the_lease_is_recorded_sent_and_the_next_goes(
    own_redis: RedisServer,
) -> None:
    """The batch's next claim, which also records the first post, meets the dead Redis: when
    Redis is back the first reply is recorded sent (not left "sending" to be taken for
    "uncertain" once its lease ran out) and the second, claimed or not, is posted once."""
    r = redis.Redis.from_url(own_redis.url)
    first = await queue_reply(r, "first", conversation="1-1")
    second = await queue_reply(r, "second", conversation="1-2")
    platform = PostsWhileRedisDies(own_redis, outage_s=2.0)
    sender = Sender(r, {("null", "main"): platform}, PARTITIONS, lease_seconds=1.0, limiter=SharedRateLimiter(r))
    consumer = outbound_consumer(r, sender, retry_idle_ms=30)
    await consumer.ensure_groups()

    async def step() -> None:  # as the consumer's loop runs: a Redis error is retried
        try:
            await sender.promote_due()
            await consumer.step()
        except (redis.ConnectionError, redis.TimeoutError):
            await asyncio.sleep(0.2)

    try:
        await step()  # both replies in one batch; Redis dies during the first post
        for _ in range(60):
            if platform.restarted.is_set() and len(platform.posts) >= 2:
                break
            await asyncio.sleep(0.05)
            await step()
        await step()
        assert sorted(platform.posts) == sorted([first.reply_id, second.reply_id])
        for reply in (first, second):
            p = keys.conversation_partition(reply.conversation_id)
            record = await r.hgetall(keys.delivery(p, reply.reply_id))  # type: ignore[misc]
            assert record[b"state"] == DeliveryState.SENT.value.encode(), record
    finally:
        await r.aclose()
