"""The sender: each reply posted once, failures recorded, rate limits honoured, doubt never retried."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Sequence

import pytest
import redis.asyncio as redis
from redis.asyncio.client import Pipeline

from helpline.connectors.base import AccountSettings, Connector, ConnectorContext, RateLimit, SendProgress, SendResult
from helpline.connectors.errors import Permanent, RateLimited, Transient, Uncertain
from helpline.connectors.ratelimit import SharedRateLimiter
from helpline.routing import keys
from helpline.routing.dead_letters import replay
from helpline.routing.models import DeliveryState, EventType, OutboundReply
from helpline.routing.sender import Sender
from helpline.routing.store import ConversationStore

from .sending import PARTITIONS, no_ingest, outbound_consumer, queue_reply


class Scripted(Connector):
    """A platform whose answers the test scripts, counting every post it accepts."""

    platform = "null"

    def __init__(self, outcomes: list[Exception | None], idempotent: bool = False) -> None:
        super().__init__(AccountSettings(platform="null", name="main"), ConnectorContext(ingest=no_ingest))
        self.outcomes = outcomes
        self.posts: list[str] = []
        self.idempotent_send = idempotent  # type: ignore[misc]

    async def send(self, reply: OutboundReply, progress: SendProgress) -> SendResult:
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if outcome is not None:
            raise outcome
        self.posts.append(reply.reply_id)
        return SendResult((f"p-{len(self.posts)}",))

    def rate_limits(self, reply: OutboundReply) -> Sequence[RateLimit]:
        return ()


async def drain(r: redis.Redis, connector: Scripted, rounds: int = 3) -> Sender:
    sender = Sender(
        r,
        {("null", "main"): connector},
        PARTITIONS,
        lease_seconds=1.0,
        backoff=(0.01, 0.05),
        limiter=SharedRateLimiter(r),
    )
    consumer = outbound_consumer(r, sender, retry_idle_ms=30)
    await consumer.ensure_groups()
    for _ in range(rounds):
        await sender.promote_due()
        await consumer.step()
        await asyncio.sleep(0.04)
    return sender


async def state(r: redis.Redis, reply: OutboundReply) -> str:
    return (await r.hget(keys.delivery(1, reply.reply_id), "state") or b"").decode()


async def test_a_reply_is_posted_once_even_when_delivered_twice(r: redis.Redis) -> None:
    reply = await queue_reply(r)
    platform = Scripted([])
    await drain(r, platform)
    await r.xadd(keys.outbound_stream(1, "null", "main"), {"m": reply.model_dump_json()})  # redelivered
    await drain(r, platform)
    assert platform.posts == [reply.reply_id]
    assert await state(r, reply) == DeliveryState.SENT.value


async def test_a_reply_id_with_a_control_character_is_dead_lettered_not_posted(r: redis.Redis) -> None:
    # The claim and record scripts get ids joined by a control character: one inside an id is refused.
    good = await queue_reply(r)
    forged = good.model_dump(mode="json") | {"reply_id": "1-1:m1:a\x1fb"}
    await r.xadd(keys.outbound_stream(1, "null", "main"), {"m": json.dumps(forged)})
    platform = Scripted([])
    await drain(r, platform)
    assert platform.posts == [good.reply_id]
    dead = await r.xrange(keys.dead_letters(1))
    assert [fields[b"error"].split(b":")[0] for _, fields in dead] == [b"invalid outbound reply"]


async def test_no_answer_from_a_platform_without_idempotency_keys_is_uncertain_not_retried(r: redis.Redis) -> None:
    reply = await queue_reply(r)
    platform = Scripted([Uncertain("read timeout")])
    await drain(r, platform, rounds=4)
    assert platform.posts == []  # not posted again: it may already be on the platform
    assert await state(r, reply) == DeliveryState.UNCERTAIN.value
    events = [e for e in await ConversationStore(r, PARTITIONS).events("1-1") if e.type is EventType.REPLY_FAILED]
    assert len(events) == 1 and "no answer" in events[0].reason


async def test_no_answer_is_retried_where_the_platform_dedupes(r: redis.Redis) -> None:
    reply = await queue_reply(r)
    platform = Scripted([Uncertain("read timeout")], idempotent=True)
    await drain(r, platform, rounds=6)
    assert platform.posts == [reply.reply_id]
    assert await state(r, reply) == DeliveryState.SENT.value


async def test_a_429_defers_the_reply_then_it_goes_once(r: redis.Redis) -> None:
    reply = await queue_reply(r)
    platform = Scripted([RateLimited(0.05)])
    sender = await drain(r, platform, rounds=6)
    assert platform.posts == [reply.reply_id] and sender.deferred == 1
    assert await state(r, reply) == DeliveryState.SENT.value


async def test_a_refused_reply_is_failed_with_its_reason(r: redis.Redis) -> None:
    reply = await queue_reply(r)
    platform = Scripted([Permanent("chat not found")])
    await drain(r, platform)
    assert platform.posts == []
    assert await state(r, reply) == DeliveryState.FAILED.value
    assert (await r.hget(keys.delivery(1, reply.reply_id), "error")) == b"chat not found"


async def test_a_connector_bug_fails_that_reply_only(r: redis.Redis) -> None:
    first = await queue_reply(r, "first")
    other = await queue_reply(r, "other", conversation="1-2")
    later = await queue_reply(r, "later")
    platform = Scripted([KeyError("bug in the connector")])
    await drain(r, platform, rounds=1)
    assert platform.posts == [other.reply_id]  # the batch went on after the failing reply...
    assert await state(r, first) == DeliveryState.SENDING.value  # unknown: a retry will say uncertain
    assert await state(r, later) == DeliveryState.QUEUED.value  # ...but its conversation's next reply waits
    await drain(r, platform, rounds=4)
    assert platform.posts == [other.reply_id, later.reply_id]
    assert await state(r, first) == DeliveryState.UNCERTAIN.value


async def test_a_deferred_reply_holds_the_later_ones_of_its_conversation(r: redis.Redis) -> None:
    replies = [await queue_reply(r, f"part {i}") for i in range(3)]
    other = await queue_reply(r, "elsewhere", conversation="1-2")
    platform = Scripted([RateLimited(0.05)])  # the first is deferred: the others must not pass it
    await drain(r, platform, rounds=8)
    assert sorted(platform.posts) == sorted([other.reply_id, *(reply.reply_id for reply in replies)])
    assert [p for p in platform.posts if p.startswith("1-1:")] == [reply.reply_id for reply in replies]


async def test_two_senders_post_a_conversation_in_order_and_once(r: redis.Redis) -> None:
    replies = [await queue_reply(r, f"part {i}") for i in range(6)]
    platform = Scripted([RateLimited(0.03), None, RateLimited(0.03)])
    a, b = (
        Sender(r, {("null", "main"): platform}, PARTITIONS, lease_seconds=1.0, limiter=SharedRateLimiter(r))
        for _ in range(2)
    )
    consumers = [outbound_consumer(r, s, name, count=2, retry_idle_ms=30) for name, s in (("a", a), ("b", b))]
    await consumers[0].ensure_groups()
    deadline = time.monotonic() + 30
    rounds_after = 4  # a few more rounds once all are posted: nothing goes twice
    while rounds_after and time.monotonic() < deadline:
        rounds_after -= len(platform.posts) >= len(replies)
        await a.promote_due()
        await asyncio.gather(*(c.step() for c in consumers))
        await asyncio.sleep(0.03)
    assert platform.posts == [reply.reply_id for reply in replies]


async def test_a_platform_outage_delays_replies_in_order_and_dead_letters_none(r: redis.Redis) -> None:
    replies = [await queue_reply(r, f"part {i}") for i in range(3)]
    platform = Scripted([Transient("502 Bad Gateway")] * 8)  # more failures than max_deliveries
    await drain(r, platform, rounds=40)
    assert platform.posts == [reply.reply_id for reply in replies]
    assert await r.xlen(keys.dead_letters(1)) == 0
    assert not await r.exists(keys.send_backoff("null", "main"))  # a success reset the back-off


async def taken_over_twice(r: redis.Redis, state: str, idempotent: bool) -> tuple[OutboundReply, Scripted]:
    """A reply whose entry two senders died holding (three deliveries, one past `max_deliveries`),
    its record left `state`; then a live sender's consumer takes it over."""
    reply = await queue_reply(r)
    if state == "sending":
        await r.hset(
            keys.delivery(1, reply.reply_id),  # type: ignore[misc]
            mapping={"state": "sending", "owner": "dead:2", "lease": 0},
        )
    stream = keys.outbound_stream(1, "null", "main")
    platform = Scripted([], idempotent=idempotent)
    sender = Sender(r, {("null", "main"): platform}, PARTITIONS, lease_seconds=1.0, limiter=SharedRateLimiter(r))
    consumer = outbound_consumer(
        r, sender, "live", retry_idle_ms=30, max_deliveries=2, buried=sender.buried, spent=sender.spent
    )
    await consumer.ensure_groups()
    await r.xreadgroup(keys.SENDER_GROUP, "dead-1", {stream: ">"})
    await r.xautoclaim(stream, keys.SENDER_GROUP, "dead-2", 0, "0-0")
    [row] = await r.xpending_range(stream, keys.SENDER_GROUP, "-", "+", 10)
    assert row["times_delivered"] == 2
    await asyncio.sleep(0.05)
    for _ in range(3):
        await sender.promote_due()
        await consumer.step()
        await asyncio.sleep(0.04)
    return reply, platform


async def test_a_reply_that_waited_in_two_dead_senders_batches_is_posted_not_dead_lettered(r: redis.Redis) -> None:
    reply, platform = await taken_over_twice(r, "queued", idempotent=False)
    assert platform.posts == [reply.reply_id]
    assert await state(r, reply) == DeliveryState.SENT.value
    assert await r.xlen(keys.dead_letters(1)) == 0


async def test_a_reply_two_dead_senders_were_posting_is_uncertain_where_the_platform_cannot_dedupe(
    r: redis.Redis,
) -> None:
    reply, platform = await taken_over_twice(r, "sending", idempotent=False)
    assert platform.posts == []
    assert await state(r, reply) == DeliveryState.UNCERTAIN.value  # not "failed": a replay could post it twice
    assert await r.xlen(keys.dead_letters(1)) == 0


async def test_a_reply_whose_posts_keep_killing_senders_is_dead_lettered_where_it_would_be_posted_again(
    r: redis.Redis,
) -> None:
    reply, platform = await taken_over_twice(r, "sending", idempotent=True)
    assert platform.posts == []
    assert await state(r, reply) == DeliveryState.FAILED.value
    [(_, fields)] = await r.xrange(keys.dead_letters(1))
    assert fields[b"error"] == b"gave up after 2 deliveries"


async def test_a_reply_held_by_a_live_sender_is_left_to_it(r: redis.Redis) -> None:
    reply = await queue_reply(r)
    key = keys.delivery(1, reply.reply_id)
    await r.hset(key, mapping={"state": "sending", "owner": "other:1", "lease": str(int(time.time() * 1000) + 300)})
    platform = Scripted([])
    await drain(r, platform, rounds=2)
    assert platform.posts == [] and await state(r, reply) == DeliveryState.SENDING.value
    await asyncio.sleep(0.3)  # its lease ran out: the owner is presumed dead, the post may have happened
    await drain(r, platform, rounds=6)
    assert platform.posts == [] and await state(r, reply) == DeliveryState.UNCERTAIN.value


async def test_a_dead_lettered_reply_lets_the_next_go_and_can_be_replayed_once(r: redis.Redis) -> None:
    first = await queue_reply(r, "first")
    later = await queue_reply(r, "later")
    platform = Scripted([KeyError("bug")] * 3, idempotent=True)
    sender = Sender(r, {("null", "main"): platform}, PARTITIONS, lease_seconds=1.0, limiter=SharedRateLimiter(r))
    consumer = outbound_consumer(r, sender, retry_idle_ms=30, max_deliveries=2, buried=sender.buried)
    await consumer.ensure_groups()
    deadline = time.monotonic() + 30
    while not (platform.posts and await r.xlen(keys.dead_letters(1))) and time.monotonic() < deadline:
        await sender.promote_due()
        await consumer.step()
        await asyncio.sleep(0.04)
    for _ in range(4):  # and a few more rounds: the later one goes once, the first stays failed
        await sender.promote_due()
        await consumer.step()
        await asyncio.sleep(0.04)
    assert platform.posts == [later.reply_id]
    assert await state(r, first) == DeliveryState.FAILED.value
    [(dead_id, _)] = await r.xrange(keys.dead_letters(1))
    assert await replay(r, PARTITIONS, [dead_id.decode()]) == {dead_id.decode(): "replayed"}
    assert await replay(r, PARTITIONS, [dead_id.decode()]) == {dead_id.decode(): "no such dead letter"}
    deadline = time.monotonic() + 30
    rounds_after = 4
    while rounds_after and time.monotonic() < deadline:
        rounds_after -= len(platform.posts) >= 2
        await sender.promote_due()
        await consumer.step()
        await asyncio.sleep(0.04)
    assert platform.posts == [later.reply_id, first.reply_id]
    assert await state(r, first) == DeliveryState.SENT.value


async def test_the_composition_roots_sender_reports_its_posts_to_the_metrics(r: redis.Redis) -> None:
    """The sender counts through the hook it is given; the runtime gives it `insights.metrics`."""
    from helpline.insights.metrics import REGISTRY
    from tests.factories import make_sender, parts

    def count(outcome: str) -> float:
        value = REGISTRY.get_sample_value(
            "helpline_replies_total", {"platform": "null", "account": "main", "outcome": outcome}
        )
        return value or 0.0

    sent, failed = count("sent"), count("failed")
    await queue_reply(r, "refused")
    await queue_reply(r, "taken", conversation="1-2")
    platform = Scripted([Permanent("no such chat")])
    sender = make_sender(
        parts(r, redis={"url": "redis://unused", "partitions": PARTITIONS}), {("null", "main"): platform}
    )
    consumer = outbound_consumer(r, sender, retry_idle_ms=30)
    await consumer.ensure_groups()
    await consumer.step()
    assert len(platform.posts) == 1
    assert (count("sent"), count("failed")) == (sent + 1, failed + 1)


async def test_replies_without_idempotency_are_claimed_a_few_at_a_time(r: redis.Redis) -> None:
    replies = [await queue_reply(r, f"r{i}", conversation=f"1-{i}") for i in range(40)]
    platform = Scripted([])
    sender = Sender(r, {("null", "main"): platform}, PARTITIONS, limiter=SharedRateLimiter(r))
    consumer = outbound_consumer(r, sender)
    await consumer.ensure_groups()
    await r.config_resetstat()
    await consumer.step()
    assert sorted(platform.posts) == sorted(reply.reply_id for reply in replies)
    stats = await r.info("commandstats")
    scripts = int(stats["cmdstat_evalsha"]["calls"])
    # a claim (carrying the last posts' records) per few replies, not a claim and a record each
    assert scripts <= 10, scripts  # (each claiming alone: over 40)
    assert "cmdstat_script|exists" not in stats  # pipelines run their scripts in one round trip


class Limited(Scripted):
    """A platform without idempotency whose every reply spends a (roomy) shared budget."""

    def rate_limits(self, reply: OutboundReply) -> Sequence[RateLimit]:
        return (RateLimit("chat", rate=1000, period=1.0, burst=1000),)


async def test_a_rate_limited_reply_without_idempotency_costs_one_round_trip(r: redis.Redis) -> None:
    replies = [await queue_reply(r, f"r{i}", conversation=f"1-{i}") for i in range(30)]
    platform = Limited([])
    sender = Sender(r, {("null", "main"): platform}, PARTITIONS, limiter=SharedRateLimiter(r))
    consumer = outbound_consumer(r, sender)
    await consumer.ensure_groups()
    await r.config_resetstat()
    await consumer.step()
    round_trips = int((await r.info("stats"))["total_reads_processed"])  # requests Redis read
    assert platform.posts == [reply.reply_id for reply in replies]
    # the budget spent in the round trip of the claim (carrying the last post's record), not before it
    # (16 for the batch's reads, acknowledgements and records; with a budget round trip before each
    # claim: 76)
    assert round_trips <= len(replies) + 20, round_trips
    assert int((await r.info("commandstats"))["cmdstat_evalsha"]["calls"]) <= 3 * len(replies) + 3
    assert {await state(r, reply) for reply in replies} == {DeliveryState.SENT.value}


async def test_a_reply_a_dead_sender_left_sending_is_recorded_uncertain_when_the_batch_defers(r: redis.Redis) -> None:
    first, second = await queue_reply(r, "first", "1-1"), await queue_reply(r, "second", "1-2")
    orphan = await queue_reply(r, "orphan", "1-3")
    await r.hset(
        keys.delivery(1, orphan.reply_id),  # type: ignore[misc]
        mapping={"state": "sending", "owner": "dead:1", "lease": 0},
    )
    # The first post is quick, so the next two are claimed at once; the second is refused with a 429.
    platform = Scripted([None, RateLimited(30.0)])
    sender = Sender(r, {("null", "main"): platform}, PARTITIONS, limiter=SharedRateLimiter(r))
    consumer = outbound_consumer(r, sender)
    await consumer.ensure_groups()
    await consumer.step()
    assert platform.posts == [first.reply_id]
    assert await state(r, second) == DeliveryState.QUEUED.value  # waits for the platform
    # perhaps posted by the dead sender: never queued again behind the wait
    assert await state(r, orphan) == DeliveryState.UNCERTAIN.value


async def test_a_claim_whose_answer_redis_lost_posts_what_it_claimed_once_and_never_an_orphan(
    r: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Redis runs a claim (with the record of the post before it) and the connection drops before
    its answer: the batch records the post and puts back what it asked for. A reply that claim
    took over from a dead sender stays "sending" to be recorded uncertain, never posted."""
    from helpline.routing import pipelined
    from helpline.routing import sender as sender_module

    first, second = await queue_reply(r, "first", "1-1"), await queue_reply(r, "second", "1-2")
    orphan = await queue_reply(r, "orphan", "1-3")
    await r.hset(
        keys.delivery(1, orphan.reply_id),  # type: ignore[misc]
        mapping={"state": "sending", "owner": "dead:1", "lease": 0},
    )
    calls = 0
    real_execute = pipelined.execute

    async def answer_lost(client: redis.Redis, pipe: Pipeline) -> list[object]:
        nonlocal calls
        calls += 1
        result = await real_execute(client, pipe)
        if calls == 3:  # the batch's claims, the first reply's claim, then the next two at once
            raise redis.ConnectionError("Connection closed by server.")
        return result

    monkeypatch.setattr(sender_module, "execute", answer_lost)
    platform = Scripted([])
    await drain(r, platform, rounds=6)
    assert platform.posts == [first.reply_id, second.reply_id]
    assert await state(r, first) == await state(r, second) == DeliveryState.SENT.value
    assert await state(r, orphan) == DeliveryState.UNCERTAIN.value


async def test_an_account_that_meets_a_redis_error_leaves_no_reply_of_another_sending(
    r: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One account's drain fails on Redis while another's claimed replies wait out a 429: the
    batch still puts those back ("queued"), then says the error, instead of leaving them
    "sending" to be taken for uncertain."""
    waiting = [await queue_reply(r, f"w{i}", conversation=f"1-{i}") for i in range(3)]
    await queue_reply(r, "other", conversation="1-9", account="second")
    limiter = SharedRateLimiter(r)

    async def redis_away(*_: object) -> float:
        raise redis.ConnectionError("Connection closed by server.")

    monkeypatch.setattr(limiter, "acquire", redis_away)  # the budget of the platform that dedupes
    main = Scripted([None, RateLimited(30.0)])  # the first goes; the next two are claimed at once
    second = Limited([], idempotent=True)
    sender = Sender(r, {("null", "main"): main, ("null", "second"): second}, PARTITIONS, limiter=limiter)
    consumer = outbound_consumer(r, sender)
    await consumer.ensure_groups()
    with pytest.raises(redis.ConnectionError):
        await consumer.step()
    assert main.posts == [waiting[0].reply_id] and second.posts == []
    assert [await state(r, reply) for reply in waiting[1:]] == [DeliveryState.QUEUED.value] * 2


class Hangs(Scripted):
    """Posts until the `n`th reply, whose call never returns (the process dies during it)."""

    def __init__(self, n: int) -> None:
        super().__init__([])
        self.n = n
        self.calls = 0

    async def send(self, reply: OutboundReply, progress: SendProgress) -> SendResult:
        self.calls += 1
        if self.calls == self.n:
            await asyncio.Event().wait()
        return await super().send(reply, progress)


async def test_a_sender_dying_after_claiming_ahead_leaves_those_uncertain_never_posted_twice(r: redis.Redis) -> None:
    from helpline.routing.sender import MARK_AHEAD_MAX

    replies = [await queue_reply(r, f"r{i}", conversation=f"1-{i}") for i in range(40)]
    dying = Hangs(6)
    sender = Sender(r, {("null", "main"): dying}, PARTITIONS, lease_seconds=0.3, limiter=SharedRateLimiter(r))
    consumer = outbound_consumer(r, sender, "dies", retry_idle_ms=30)
    await consumer.ensure_groups()
    step = asyncio.create_task(consumer.step())
    while dying.calls < 6:  # the platform's counter, polled
        await asyncio.sleep(0.01)
    step.cancel()  # killed mid-post: nothing more is recorded
    await asyncio.sleep(0.4)  # its lease runs out
    platform = Scripted([])
    await drain(r, platform, rounds=4)
    posted = dying.posts + platform.posts
    assert len(posted) == len(set(posted)), "a reply was posted twice"
    states = {reply.reply_id: await state(r, reply) for reply in replies}
    uncertain = [rid for rid, s in states.items() if s == DeliveryState.UNCERTAIN.value]
    assert set(states.values()) <= {DeliveryState.SENT.value, DeliveryState.UNCERTAIN.value}
    assert set(dying.posts) <= set(uncertain) | {replies[0].reply_id}  # posted, not recorded: uncertain
    assert 0 < len(uncertain) <= MARK_AHEAD_MAX  # the claim in flight, no more
    assert {rid for rid, s in states.items() if s == DeliveryState.SENT.value} <= set(posted)


async def test_refused_credentials_make_the_account_wait_said_once_and_fail_no_reply(
    r: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    from helpline.connectors.errors import AuthFailed

    replies = [await queue_reply(r, f"part {i}") for i in range(3)]
    platform = Scripted([AuthFailed("telegram rejected the bot token")] * 3)
    reports: list[tuple[str, str, str | None]] = []
    sender = Sender(
        r,
        {("null", "main"): platform},
        PARTITIONS,
        lease_seconds=1.0,
        backoff=(0.01, 1.0),  # the cap: long enough that a busy machine still sees the block
        limiter=SharedRateLimiter(r),
        credentials=lambda *report: reports.append(report),
    )
    consumer = outbound_consumer(r, sender, retry_idle_ms=30, max_deliveries=2)
    await consumer.ensure_groups()
    with caplog.at_level(logging.WARNING, logger="helpline.routing"):
        await consumer.step()
        # refused: one call, the account then blocked for the cap; nothing failed; told once
        assert len(platform.outcomes) == 2 and await r.pttl(keys.blocked_until("null", "main")) > 0
        assert platform.posts == [] and {await state(r, reply) for reply in replies} == {"queued"}
        assert reports == [("null", "main", "credentials refused: telegram rejected the bot token")]
        # The credentials work again after two more refusals (each blocks for the 1 s cap).
        deadline = time.monotonic() + 30
        while len(platform.posts) < len(replies) and time.monotonic() < deadline:
            await sender.promote_due()
            await consumer.step()
            await asyncio.sleep(0.05)
    assert platform.posts == [reply.reply_id for reply in replies]
    assert reports[-1] == ("null", "main", None) and len(reports) == 2
    refusals = [rec for rec in caplog.records if "refused the credentials" in rec.getMessage()]
    assert len(refusals) == 1 and await r.xlen(keys.dead_letters(1)) == 0


async def test_a_post_the_platform_does_not_answer_in_time_is_uncertain(r: redis.Redis) -> None:
    reply = await queue_reply(r, "no answer")
    sender = Sender(r, {("null", "main"): Hangs(1)}, PARTITIONS, send_timeout=0.2, limiter=SharedRateLimiter(r))
    consumer = outbound_consumer(r, sender)
    await consumer.ensure_groups()
    await asyncio.wait_for(consumer.step(), 10)
    assert await state(r, reply) == DeliveryState.UNCERTAIN.value
    error = await r.hget(keys.delivery(1, reply.reply_id), "error")  # type: ignore[misc]
    assert error == b"no answer from the platform: no answer within 0.2 s"
