import asyncio
import logging
from collections.abc import Sequence

import pytest
import redis.asyncio as redis

from helpline.connectors.base import ConnectorContext, SendProgress
from helpline.connectors.cursors import CursorStore
from helpline.connectors.errors import RateLimited
from helpline.connectors.mastodon.connector import MastodonConnector
from helpline.connectors.ratelimit import SharedRateLimiter
from helpline.connectors.runner import PollRunner
from helpline.routing.bus import StreamBus
from helpline.routing.models import InboundMessage, MessageKind, OutboundReply, Visibility

from .conftest import TOKEN, Emulator, MakeConnector, ingested, settings


async def drain(runner: PollRunner, limit: int = 50) -> None:
    """Poll until the runner would wait (nothing more right now)."""
    for _ in range(limit):
        if await runner.poll_once() > 0:
            return
    raise AssertionError("poller never caught up")


async def test_mentions_replies_directs_and_attachments_reach_the_bus(
    emulator: Emulator, make_connector: MakeConnector, r: redis.Redis
) -> None:
    connector = await make_connector()
    runner = PollRunner(r, connector)
    await drain(runner)  # first poll: nothing yet
    root = await emulator.customer("501", "<b>withdrawal</b> stuck & pending", handle="alice")
    photo = await emulator.customer(
        "502",
        "screenshot attached",
        handle="bob@other.social",
        attachments=[{"type": "image", "url": "https://m.example/f/1.png"}],
    )
    dm = await emulator.customer("503", "my 2FA codes leaked\nplease lock", kind="direct", handle="carol")
    unlisted = await emulator.customer("504", "quiet question", handle="dave", visibility="unlisted")
    await drain(runner)
    messages = {m.message_id: m for m in await ingested(r)}
    assert set(messages) == {root["message_id"], photo["message_id"], dm["message_id"], unlisted["message_id"]}

    first = messages[root["message_id"]]
    assert first.kind is MessageKind.MENTION and first.thread_key == root["thread"] == f"status:{first.message_id}"
    assert first.text == "<b>withdrawal</b> stuck & pending"  # entities unescaped, our @support dropped
    assert (first.author.user_id, first.author.handle) == ("501", "alice")

    (attachment,) = messages[photo["message_id"]].attachments
    assert attachment.kind == "photo" and attachment.url == "https://m.example/f/1.png"

    direct = messages[dm["message_id"]]
    assert direct.kind is MessageKind.DIRECT and direct.visibility is Visibility.PRIVATE
    assert direct.thread_key == "direct:503" == dm["thread"]
    assert direct.text == "my 2FA codes leaked\nplease lock"
    assert messages[unlisted["message_id"]].kind is MessageKind.MENTION


async def test_replies_to_our_reply_stay_in_the_thread(
    emulator: Emulator, make_connector: MakeConnector, r: redis.Redis
) -> None:
    connector = await make_connector()
    runner = PollRunner(r, connector)
    await drain(runner)
    root = await emulator.customer("601", "help", handle="erin")
    await drain(runner)
    reply = OutboundReply(
        reply_id="rep-1",
        conversation_id="0-1",
        platform="mastodon",
        account="support",
        kind=MessageKind.MENTION,
        thread_key=root["thread"],
        visibility=Visibility.PUBLIC,
        text="Looking into it",
        in_reply_to=root["message_id"],
        recipient_id="601",
        sender="agent:kim",
    )
    result = await connector.send(reply, SendProgress())
    follow = await emulator.customer("601", "any news?", handle="erin", reply_to=result.platform_message_ids[0])
    await drain(runner)
    latest = (await ingested(r))[-1]
    assert latest.message_id == follow["message_id"]
    assert latest.kind is MessageKind.REPLY and latest.thread_key == root["thread"] == follow["thread"]

    # Without the Redis map, the thread root comes from the statuses' context instead.
    fresh = await make_connector(use_redis=False)
    root_note = emulator.state.notifications[0][0]
    batch = await fresh.fetch(root_note)
    assert [m.message_id for m in batch.messages] == [follow["message_id"]]
    assert [m.thread_key for m in batch.messages] == [root["thread"]]


async def test_pagination_over_several_pages_skips_nothing(
    emulator: Emulator, make_connector: MakeConnector, r: redis.Redis
) -> None:
    connector = await make_connector(page_size=4, max_pages=3)
    runner = PollRunner(r, connector)
    await drain(runner)
    created = [(await emulator.customer(str(700 + i % 5), f"message {i}"))["message_id"] for i in range(25)]
    batch = await connector.fetch(await CursorStore(r).get("mastodon", "support"))
    assert batch.more and len(batch.messages) == 12  # three pages of four, in order
    assert [m.message_id for m in batch.messages] == created[:12]
    await drain(runner)
    assert [m.message_id for m in await ingested(r)] == created
    newest_note = emulator.state.notifications[-1][0]
    assert await CursorStore(r).get("mastodon", "support") == newest_note


async def test_first_poll_takes_only_the_newest_page(emulator: Emulator, make_connector: MakeConnector) -> None:
    created = [(await emulator.customer("800", f"old {i}"))["message_id"] for i in range(6)]
    connector = await make_connector(page_size=4)
    batch = await connector.fetch(None)
    assert [m.message_id for m in batch.messages] == created[2:]
    assert batch.cursor == emulator.state.notifications[-1][0] and not batch.more


async def test_own_statuses_and_bots_are_not_ingested(
    emulator: Emulator, make_connector: MakeConnector, r: redis.Redis
) -> None:
    connector = await make_connector()
    runner = PollRunner(r, connector)
    await drain(runner)
    assert connector.own is not None
    await emulator.customer(connector.own.id, "talking to myself", handle="support")
    await emulator.customer("901", "beep", handle="pricebot", user={"bot": True})
    human = await emulator.customer("902", "a human", handle="frank")
    batch = await connector.fetch(await CursorStore(r).get("mastodon", "support"))
    assert [m.message_id for m in batch.messages] == [human["message_id"]] and batch.skipped == 2
    await drain(runner)
    assert [m.message_id for m in await ingested(r)] == [human["message_id"]]


async def test_restart_mid_poll_neither_loses_nor_repeats(emulator: Emulator, r: redis.Redis) -> None:
    bus = StreamBus(r, partitions=4)
    calls = 0

    async def crashing_ingest(messages: Sequence[InboundMessage]) -> list[bool]:
        nonlocal calls
        calls += 1
        if calls == 2:  # the second batch: half of it is durable, then the process dies
            await bus.ingest(messages[:1])
            raise redis.ConnectionError("killed")
        return await bus.ingest(messages)

    first = MastodonConnector(
        settings(emulator.base_url, page_size=3, max_pages=1), ConnectorContext(ingest=crashing_ingest, redis=r)
    )
    await first.start()
    runner = PollRunner(r, first, lease_ttl=0.3)
    await runner.poll_once()  # empty start
    created = [(await emulator.customer("950", f"m{i}"))["message_id"] for i in range(7)]
    with pytest.raises(redis.ConnectionError):
        await runner.poll_once()
    assert await CursorStore(r).get("mastodon", "support") == "0"  # the cursor did not move
    await first.stop()
    await asyncio.sleep(0.35)  # the dead process's lease expires; nobody released it

    second = MastodonConnector(
        settings(emulator.base_url, page_size=3, max_pages=1), ConnectorContext(ingest=bus.ingest, redis=r)
    )
    await second.start()
    try:
        await drain(PollRunner(r, second))
    finally:
        await second.stop()
    assert [m.message_id for m in await ingested(r)] == created


async def test_two_runners_for_one_account_one_polls(
    emulator: Emulator, make_connector: MakeConnector, r: redis.Redis
) -> None:
    a = PollRunner(r, await make_connector())
    b = PollRunner(r, await make_connector())
    await emulator.customer("960", "hello")
    for _ in range(5):
        await a.poll_once()
        await b.poll_once()
    assert sorted([a.polls, b.polls]) == [0, 5]
    assert len(await ingested(r)) == 1


async def test_rate_limited_poll_keeps_the_cursor(
    emulator: Emulator, make_connector: MakeConnector, r: redis.Redis
) -> None:
    connector = await make_connector()
    runner = PollRunner(r, connector)
    await drain(runner)
    cursor = await CursorStore(r).get("mastodon", "support")
    await emulator.customer("970", "hi")
    await emulator.config(rate_limit=0, rate_period=30.0)
    with pytest.raises(RateLimited) as caught:
        await connector.fetch(cursor)
    assert 1.0 <= caught.value.retry_after <= 30.0
    wait = await runner.poll_once()
    assert 1.0 <= wait <= 30.0 and connector.health().status == "degraded"
    assert await CursorStore(r).get("mastodon", "support") == cursor and await ingested(r) == []
    assert connector.health().rate_limit_remaining == 0


async def test_polls_spend_the_api_budget_replies_spend(
    emulator: Emulator, make_connector: MakeConnector, r: redis.Redis
) -> None:
    # the instance allows 10 calls per 5 minutes and so does the account's budget: polling at
    # 0.01 s used to run into 429s after the tenth poll
    await emulator.config(rate_limit=10, rate_period=300.0)
    connector = await make_connector(api_rate=10, api_burst=4)
    runner = PollRunner(r, connector)
    waits = [await runner.poll_once() for _ in range(30)]
    stats = await emulator.stats()
    assert stats.get("rate_limited_responses", 0) == 0 and connector.health().status == "ok"
    assert runner.polls == 4 and all(w > 1.0 for w in waits[4:])  # the burst, then polls wait for budget
    # a reply spends the same budget: it finds it spent by the polls
    limiter = SharedRateLimiter(r)
    reply = OutboundReply(
        reply_id="rep-b",
        conversation_id="0-1",
        platform="mastodon",
        account="support",
        kind=MessageKind.MENTION,
        thread_key="status:1",
        visibility=Visibility.PUBLIC,
        text="hi",
        in_reply_to="1",
        recipient_id="1",
        sender="agent:kim",
    )
    assert await limiter.acquire("mastodon", "support", connector.rate_limits(reply)) > 1.0


async def test_further_pages_of_a_poll_spend_the_budget_too(
    emulator: Emulator, make_connector: MakeConnector, r: redis.Redis
) -> None:
    connector = await make_connector(page_size=2, max_pages=10, api_rate=10, api_burst=3)
    runner = PollRunner(r, connector)
    assert await runner.poll_once() == connector.settings.poll_interval  # first poll: one unit spent
    for i in range(12):
        await emulator.customer(str(990 + i), f"question {i}")
    cursor = await CursorStore(r).get("mastodon", "support")
    # the runner spends the first page's unit; the two units left pay for two further pages
    batch = await connector.fetch(cursor)
    assert batch.more and len(batch.messages) == 6


async def test_a_token_revoked_at_run_time_is_said_once_and_the_account_is_down(
    emulator: Emulator, make_connector: MakeConnector, r: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    connector = await make_connector()
    runner = PollRunner(r, connector)
    await drain(runner)
    emulator.app.state.mastodon.config.token = "a-new-token"  # the old one revoked
    with caplog.at_level(logging.WARNING, logger="helpline.connectors"):
        waits = [await runner.poll_once() for _ in range(3)]
        assert waits == [60.0] * 3  # a minute between tries: no loop against a refusing platform
        assert connector.health().status == "down" and "token" in (connector.health().last_error or "")
        emulator.app.state.mastodon.config.token = TOKEN  # a working token again
        await drain(runner)
    refused = [rec for rec in caplog.records if "authentication failed" in rec.getMessage()]
    assert len(refused) == 1 and "accepts the credentials again" in caplog.text
    assert connector.health().status == "ok" and TOKEN not in caplog.text
