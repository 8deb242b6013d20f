"""A reply that was not posted stays "not posted" through a Redis restart (AOF always): resetting
its record from "sending" to "queued" is retried until Redis answers, so the next attempt posts
it instead of taking it for "uncertain" (a reply no customer ever got, shown as maybe-posted)."""

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
