"""Publishing through the connectors against the three emulators."""

from __future__ import annotations

import redis.asyncio as redis

from helpline.announcements.deliveries import DeliveryStore
from helpline.announcements.models import Target, TargetKind
from helpline.announcements.subscribers import SubscriberStore
from helpline.announcements.worker import Publishing
from helpline.announcements.workflow import Workflow
from helpline.routing.models import DeliveryState

from .conftest import ALL_TARGETS, CHANNEL, Platforms, publish_until_done

LONG = (
    "Scheduled maintenance: deposits and withdrawals on the Ethereum network pause on Saturday from "
    "02:00 to 04:00 UTC while we upgrade our wallet infrastructure. Trading is not affected. "
    "Orders stay open during the upgrade. Details: https://status.example.com/maintenance/2025-03-01 "
    "Thank you for your patience <3 & see you soon."
)


async def test_one_announcement_reaches_every_platform_once(
    r: redis.Redis, platforms: Platforms, publishing: Publishing, workflow: Workflow
) -> None:
    a = await workflow.compose(text=LONG, targets=ALL_TARGETS, actor="mk")
    await workflow.submit(a.id, "mk")
    assert await publish_until_done(publishing, a.id) == "published"

    tweets = [s for s in platforms.x_state.sent if s["kind"] == "tweet"]
    assert len(tweets) == 2 and tweets[0]["text"].startswith("1/2 ") and tweets[1]["text"].startswith("2/2 ")
    assert tweets[1]["in_reply_to"] == tweets[0]["id"] and tweets[0]["in_reply_to"] is None
    assert any("https://status.example.com/maintenance/2025-03-01" in t["text"] for t in tweets)

    posts = [m for m in await platforms.telegram_sent() if m["chat_id"] == CHANNEL]
    assert len(posts) == 1 and posts[0]["kind"] == "channel" and posts[0]["parse_mode"] == "HTML"
    assert "&lt;3 &amp; see you soon." in posts[0]["text"]

    own = platforms.mastodon_state.own.id
    statuses = [s for s in platforms.mastodon_state.statuses.values() if s.account_id == own]
    assert len(statuses) == 1 and statuses[0].visibility == "public"

    records = await DeliveryStore(r).list(a.id)
    assert [d.state for d in records] == [DeliveryState.SENT] * 3
    assert records[0].url == f"https://x.com/helpline/status/{tweets[0]['id']}"
    assert records[1].url == f"https://t.me/exchange_news/{posts[0]['id']}"


async def test_one_failing_target_leaves_the_others_published(
    r: redis.Redis, platforms: Platforms, publishing: Publishing, workflow: Workflow
) -> None:
    missing_channel = Target(kind=TargetKind.TELEGRAM_CHAT, account="bot", chat_id=-1009999999999)
    a = await workflow.compose(text="Deposits are back to normal.", targets=(*ALL_TARGETS, missing_channel), actor="mk")
    await workflow.submit(a.id, "mk")
    assert await publish_until_done(publishing, a.id) == "partly_failed"
    by_target = {d.target: d for d in await DeliveryStore(r).list(a.id)}
    failed = by_target["telegram:bot:chat:-1009999999999"]
    assert failed.state is DeliveryState.FAILED and failed.error and "chat not found" in failed.error.lower()
    assert [d.state for k, d in by_target.items() if k != failed.target] == [DeliveryState.SENT] * 3
    assert len([s for s in platforms.x_state.sent if s["kind"] == "tweet"]) == 1


async def test_broadcast_reaches_opted_in_subscribers_only_with_an_unsubscribe_button(
    r: redis.Redis, platforms: Platforms, publishing: Publishing, workflow: Workflow
) -> None:
    subs = SubscriberStore(r)
    users = [7001, 7002, 7003, 7004]
    await platforms.telegram_control("chats", {"chats": [{"id": u, "type": "private"} for u in users]})
    for u in users:
        await subs.subscribe("bot", u)
    await subs.unsubscribe("bot", 7004)
    target = Target(kind=TargetKind.TELEGRAM_SUBSCRIBERS, account="bot")
    a = await workflow.compose(text="New listing: XYZ/USDT opens at 10:00 UTC.", targets=(target,), actor="mk")
    await workflow.submit(a.id, "mk")
    assert await publish_until_done(publishing, a.id) == "published"
    sent = await platforms.telegram_sent()
    assert sorted(m["chat_id"] for m in sent) == [7001, 7002, 7003]
    button = sent[0]["reply_markup"]["inline_keyboard"][0][0]
    assert button["callback_data"] == "announcements:unsubscribe"


async def test_429_defers_and_every_subscriber_gets_exactly_one(
    r: redis.Redis, platforms: Platforms, publishing: Publishing, workflow: Workflow
) -> None:
    # The emulator allows less than our limiter thinks: real 429s must be honoured, not fatal.
    platforms.tg_state.configure({"global_per_second": 20, "global_burst": 5})
    subs = SubscriberStore(r)
    users = list(range(8001, 8041))
    await platforms.telegram_control("chats", {"chats": [{"id": u, "type": "private"} for u in users]})
    for u in users:
        await subs.subscribe("bot", u)
    a = await workflow.compose(
        text="Withdrawals resumed.", targets=(Target(kind=TargetKind.TELEGRAM_SUBSCRIBERS, account="bot"),), actor="mk"
    )
    await workflow.submit(a.id, "mk")
    assert await publish_until_done(publishing, a.id, seconds=30) == "published"
    sent = await platforms.telegram_sent()
    assert sorted(m["chat_id"] for m in sent) == users
    assert platforms.tg_state.stats["rate_limited_responses"] > 0
    assert publishing.publisher.deferred > 0
