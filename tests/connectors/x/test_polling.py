import asyncio
from collections.abc import Callable

import httpx
import redis.asyncio as redis

from helpline.connectors.runner import PollRunner
from helpline.connectors.x.connector import XConnector
from helpline.connectors.x.emulator import XEmulator
from helpline.routing.bus import StreamBus
from helpline.routing.models import MessageKind

from .conftest import BRAND_ID, ingested, say


async def drain(runner: PollRunner, limit: int = 20) -> None:
    """Poll until the connector says nothing more is waiting right now."""
    polls = runner.polls
    for _ in range(limit):
        if await runner.poll_once() > 0:
            assert runner.polls > polls, "this runner does not hold the poll lease"
            return
    raise AssertionError("the poller never caught up")


async def test_mentions_replies_and_dms_flow_into_the_bus(
    r: redis.Redis,
    bus: StreamBus,
    control: httpx.AsyncClient,
    make_connector: Callable[..., XConnector],
) -> None:
    runner = PollRunner(r, make_connector())
    await drain(runner)  # first poll: empty timelines
    first = await say(control, "42", "my withdrawal is stuck")
    await say(control, "42", "any news?", reply_to=first["message_id"])
    dm = await say(control, "42", "계정이 잠겼어요", kind="direct")
    await drain(runner)
    messages = await ingested(bus)
    by_text = {m.text: m for m in messages}
    assert len(messages) == 3
    mention = by_text["my withdrawal is stuck"]
    assert mention.kind is MessageKind.MENTION and mention.author.handle == "cust42"
    assert mention.thread_key == first["thread"] == f"tweet:{first['message_id']}"
    # a reply in a conversation stays in its thread
    assert by_text["any news?"].thread_key == first["thread"]
    assert by_text["any news?"].in_reply_to == first["message_id"]
    direct = by_text["계정이 잠겼어요"]
    assert direct.kind is MessageKind.DIRECT
    assert direct.thread_key == dm["thread"] == "dm:42-1000"  # X orders the ids numerically
    # one author, two threads: the public one and the private one
    assert {m.author.user_id for m in messages} == {"42"}
    assert len({m.thread_key for m in messages}) == 2


async def test_mentions_are_paged_and_none_is_lost_or_repeated(
    r: redis.Redis,
    bus: StreamBus,
    control: httpx.AsyncClient,
    make_connector: Callable[..., XConnector],
    emulator: XEmulator,
) -> None:
    connector = make_connector(page_size=5)
    runner = PollRunner(r, connector, lease_ttl=0.3)
    await drain(runner)
    for i in range(23):
        await say(control, str(100 + i), f"question {i}")
    for i in range(12):
        await say(control, str(200 + i), f"dm {i}", kind="direct")
    # mid-sweep restart: a new connector and runner continue from the stored cursor
    assert await runner.poll_once() == 0.0  # more pages waiting
    await connector.stop()  # the process dies holding the lease; a successor takes over after it
    await asyncio.sleep(0.4)
    runner = PollRunner(r, make_connector(page_size=5))
    await drain(runner)
    texts = sorted(m.text for m in await ingested(bus))
    assert texts == sorted([f"question {i}" for i in range(23)] + [f"dm {i}" for i in range(12)])
    stats = (await control.get("/stats")).json()
    assert stats["requests"]["mentions"] >= 5  # 23 mentions in pages of 5
    # nothing new: further polls ingest nothing and move nothing
    before = await ingested(bus)
    await drain(runner)
    assert await ingested(bus) == before


async def test_restart_after_fetch_before_cursor_neither_loses_nor_repeats(
    r: redis.Redis,
    bus: StreamBus,
    control: httpx.AsyncClient,
    make_connector: Callable[..., XConnector],
) -> None:
    runner = PollRunner(r, make_connector())
    await drain(runner)
    await say(control, "7", "hello")
    # the process dies after fetching, before ingest: the cursor was not stored
    lost = await make_connector().fetch(await runner.cursors.get("x", "support"))
    assert [m.text for m in lost.messages] == ["hello"]
    await drain(runner)
    # and dies after ingest, before storing the cursor: the refetch is deduplicated
    await bus.ingest(lost.messages)
    assert [m.text for m in await ingested(bus)] == ["hello"]


async def test_own_tweets_and_dms_are_not_ingested(
    r: redis.Redis,
    bus: StreamBus,
    control: httpx.AsyncClient,
    make_connector: Callable[..., XConnector],
) -> None:
    connector = make_connector()
    runner = PollRunner(r, connector)
    await drain(runner)
    first = await say(control, "42", "help")
    await say(control, BRAND_ID, "@helpline status update: all systems normal")  # our own tweet
    await drain(runner)
    (mention,) = await ingested(bus)
    from helpline.connectors.base import SendProgress
    from helpline.routing.models import OutboundReply, Visibility

    reply = OutboundReply(
        reply_id="r1",
        conversation_id="0-1",
        platform="x",
        account="support",
        kind=MessageKind.MENTION,
        thread_key=first["thread"],
        visibility=Visibility.PUBLIC,
        text="On it! " * 60,
        in_reply_to=mention.message_id,
        sender="bot:faq",
    )
    await connector.send(reply, SendProgress())
    dm_reply = OutboundReply(
        reply_id="r2",
        conversation_id="0-2",
        platform="x",
        account="support",
        kind=MessageKind.DIRECT,
        thread_key="dm:42-1000",
        visibility=Visibility.PRIVATE,
        text="Check your DMs",
        recipient_id="42",
        sender="bot:faq",
    )
    await connector.send(dm_reply, SendProgress())
    await drain(runner)
    # our thread parts reply to ourselves (they are in the mentions timeline) and our DM is in
    # dm_events: neither comes back in
    assert [m.text for m in await ingested(bus)] == ["help"]


async def test_two_runners_for_one_account_one_polls(
    r: redis.Redis,
    control: httpx.AsyncClient,
    make_connector: Callable[..., XConnector],
) -> None:
    a, b = PollRunner(r, make_connector()), PollRunner(r, make_connector())
    stop = asyncio.Event()
    tasks = [asyncio.create_task(a.run(stop)), asyncio.create_task(b.run(stop))]
    await asyncio.sleep(0.6)
    stop.set()
    await asyncio.gather(*tasks)
    assert sorted([a.polls, b.polls])[0] == 0
    assert max(a.polls, b.polls) > 2


async def test_polls_spend_the_read_budgets_instead_of_running_into_429s(
    r: redis.Redis,
    control: httpx.AsyncClient,
    make_connector: Callable[..., XConnector],
) -> None:
    # X allows 5 mention and 5 DM reads per 15 minutes here; polling every 0.05 s used to get 429s
    limits = {"mentions": {"limit": 5, "window": 900}, "dm_events": {"limit": 5, "window": 900}}
    assert (await control.post("/config", json={"limits": limits})).status_code == 200
    connector = make_connector(mention_reads_per_15min=5, dm_reads_per_15min=5)
    runner = PollRunner(r, connector)
    waits = [await runner.poll_once() for _ in range(20)]
    stats = (await control.get("/stats")).json()
    assert stats["rate_limited_responses"] == 0 and connector.health().status == "ok"
    assert runner.polls == 1 and all(w > 1.0 for w in waits[1:])  # then it waits for the budget
