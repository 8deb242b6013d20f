"""Splitting in a real browser (headless Chromium) against the console on uvicorn, with a running
router and sender and the e-mail account on the real Dovecot and relay: the button comes with a
mail that arrives while the page is open (built by the live update), and pressing it opens the
new conversation."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as redis
from playwright.async_api import Browser, async_playwright, expect

from helpline.connectors.email.mailservers import Dovecot, Relay
from helpline.connectors.email.threads import new_thread_key
from helpline.connectors.emulation import serve
from helpline.console.roles import Role
from helpline.routing.sender import run_promoter
from tests.connectors.email.conftest import Desk, desk
from tests.connectors.email.test_send import write
from tests.console.stack import ARGS, CHROMIUM
from tests.factories import create_app, router_consumer, sender_consumer

PASSWORD = "correct horse battery"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs /usr/bin/chromium")


@contextlib.asynccontextmanager
async def running(d: Desk) -> AsyncIterator[tuple[str, Browser]]:
    """The console, the router, the sender and the mailbox poller running, and a browser."""
    app = create_app(d.parts)
    await app.state.console.users.add("amy", PASSWORD, Role.AGENT, name="Amy", teams=["support"])
    stop = asyncio.Event()
    router_loop = router_consumer(d.parts, d.router, name="browser-router")
    sender_loop = sender_consumer(d.parts, d.sender, name="browser-sender")
    for loop in (router_loop, sender_loop):
        loop.block_ms = 50

    async def poll() -> None:
        while not stop.is_set():
            await d.runner.poll_once()
            await asyncio.sleep(0.2)

    tasks = [
        asyncio.create_task(router_loop.run(stop)),
        asyncio.create_task(sender_loop.run(stop)),
        asyncio.create_task(run_promoter(d.sender, stop)),
        asyncio.create_task(poll()),
    ]
    try:
        async with serve(app) as url, async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
            try:
                yield url, browser
            finally:
                await browser.close()
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        await d.connector.stop()


async def conversation_of(d: Desk, message_id: str) -> str:
    for _ in range(200):
        cid = await d.parts.store.find_thread("email", "support", new_thread_key(message_id))
        if cid:
            return cid
        await asyncio.sleep(0.05)
    raise AssertionError("the mail was not threaded")


async def test_an_agent_splits_a_mail_that_arrived_while_the_page_was_open(
    r: redis.Redis, dovecot: Dovecot, relay: Relay, tmp_path: Path
) -> None:
    d = desk(r, dovecot, relay, tmp_path)
    dovecot.append("support", write("Card declined", "My card was declined.", ident="q1@example.com"))
    async with running(d) as (url, browser):
        old = await conversation_of(d, "q1@example.com")
        page = await (await browser.new_context()).new_page()
        await page.goto(url + "/login")
        await page.fill("input[name=username]", "amy")
        await page.fill("input[name=password]", PASSWORD)
        await page.click("button[type=submit]")
        await page.wait_for_url(url + "/")
        await page.goto(f"{url}/c/{old}")
        await expect(page.locator(".bubble-text", has_text="My card was declined.")).to_be_visible()
        split = page.get_by_role("button", name="Split off from here")
        await expect(split).to_have_count(0)  # the first message stays: nothing to split from yet

        dovecot.append(
            "support",
            write(
                "Re: Card declined",
                "Also: how do I change my phone number?",
                ident="q2@example.com",
                In_Reply_To="<q1@example.com>",
            ),
        )
        await expect(split).to_have_count(1, timeout=20_000)  # on the live-built message
        await split.click()
        await page.wait_for_url(re.compile(r"/c/\d+-\d+$"))
        new = page.url.rsplit("/", 1)[1]
        assert new != old
        current = page.locator("#timeline > li.item-message .bubble-text")
        await expect(current).to_have_text(["Also: how do I change my phone number?"])
        assert [m.message_id for m in await d.parts.store.messages(new)] == ["split:q2@example.com"]
