"""The help-center bot's public replies on X, through the X emulator (which refuses duplicate
content as X does), the connector, the real router and bot, and the sender."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
import redis.asyncio as redis

from helpline.bots.catalog import default_catalog
from helpline.connectors.ratelimit import SharedRateLimiter
from helpline.connectors.runner import PollRunner
from helpline.connectors.x.connector import XConnector
from helpline.routing import keys
from helpline.routing.bus import StreamConsumer
from helpline.routing.models import DeliveryState
from helpline.routing.sender import Sender
from tests.factories import Parts, build_router, route_all, settings

from .conftest import BRAND_ID, ENV, say

SAFETY = default_catalog().text("en", "public_move_private")


@pytest.fixture
async def parts(x_url: str, r: redis.Redis) -> AsyncIterator[Parts]:
    account = {
        "platform": "x",
        "name": "support",
        "base_url": x_url,
        "poll_interval": 0.05,
        "secrets": {name: var for name, (var, _) in ENV.items()},
        "options": {"user_id": BRAND_ID, "handle": "helpline"},
    }
    p = Parts.build(
        settings(
            accounts=[account],
            rules=[{"name": "all", "set": {"bot": "helpcenter"}}],
            bots={"helpcenter": {"type": "helpcenter", "kb": "kb"}},
        ),
        r,
    )
    p.make_connectors()
    connector = p.connectors[("x", "support")]
    assert isinstance(connector, XConnector)
    async with connector:
        yield p


async def test_the_same_template_to_the_same_customer_is_posted_every_time(
    parts: Parts, control: httpx.AsyncClient, r: redis.Redis
) -> None:
    connector = parts.connectors[("x", "support")]
    sender = Sender(r, parts.connectors, parts.settings.redis.partitions, limiter=SharedRateLimiter(r))
    consumer = StreamConsumer(
        r,
        keys.SENDER_GROUP,
        "s1",
        sender.streams(),
        sender.handle_batch,
        sender.dead_letter_key,
        block_ms=5,
        retry_idle_ms=30,
    )
    router = build_router(parts)
    runner = PollRunner(r, connector)
    # One customer posts account details in public three times, in separate tweets: each gets
    # the safety message asking them to write privately (the same template, to the same handle).
    for n in range(3):
        await say(control, "77", f"@helpline my withdrawal is stuck, my email is jo{n}@example.com")
        await runner.poll_once()
        await route_all(parts, router)
        await consumer.ensure_groups()
        for _ in range(3):
            await consumer.step()
    tweets = [m for m in (await control.get("/sent")).json()["messages"] if m["kind"] == "tweet"]
    assert len(tweets) == 3, tweets  # X refused none as duplicate content
    pattern = re.escape(f"@cust77 {SAFETY}") + r" \(ref [A-Z2-7]{6}\)"
    assert all(re.fullmatch(pattern, t["text"]) for t in tweets) and len({t["text"] for t in tweets}) == 3
    states = [await r.hget(k, "state") async for k in r.scan_iter("hl:*:reply:*")]  # type: ignore[misc]
    assert states == [DeliveryState.SENT.value.encode()] * 3


async def test_unsure_bot_lists_numbered_choices_and_a_reply_of_2_is_answered(
    parts: Parts, control: httpx.AsyncClient, r: redis.Redis
) -> None:
    connector = parts.connectors[("x", "support")]
    sender = Sender(r, parts.connectors, parts.settings.redis.partitions, limiter=SharedRateLimiter(r))
    consumer = StreamConsumer(
        r,
        keys.SENDER_GROUP,
        "s1",
        sender.streams(),
        sender.handle_batch,
        sender.dead_letter_key,
        block_ms=5,
        retry_idle_ms=30,
    )
    router = build_router(parts)
    runner = PollRunner(r, connector)

    async def cycle() -> list[dict[str, str]]:
        await runner.poll_once()
        await route_all(parts, router)
        await consumer.ensure_groups()
        for _ in range(3):
            await consumer.step()
        return [m for m in (await control.get("/sent")).json()["messages"] if m["kind"] == "tweet"]

    await say(control, "78", "@helpline what about my 2fa codes?")
    [choices] = await cycle()
    lines = choices["text"].splitlines()
    numbered = {line.split(" — ", 1)[0]: line.split(" — ", 1)[1] for line in lines if " — " in line}
    assert {"1", "2", "human"} <= set(numbered)  # X has no buttons: the same choices, numbered
    setup = next(n for n, title in numbered.items() if "set up" in title.lower())
    await say(control, "78", f"@helpline {setup}", reply_to=choices["id"])
    tweets = await cycle()
    assert "articles/2fa-setup" in " ".join(t["text"] for t in tweets[1:])  # the answer (maybe a chain)
