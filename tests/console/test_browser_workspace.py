"""The agent's workspace in a real browser (headless Chromium): wait clocks and queue order,
the two-mode composer, resolving with undo, collision warnings, attachments."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import redis.asyncio as redis
from playwright.async_api import expect

from .helpers import make_desk
from .stack import TOKEN, running
from .test_browser import sign_in

pytestmark = pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="needs /usr/bin/chromium")

TAKEOVER = {"name": "takeover", "match": {"keywords": ["hacked", "takeover"]}, "set": {"priority": "urgent"}}


@pytest.fixture(autouse=True)
def telegram_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HL_TG_TOKEN", TOKEN)


async def test_unassigned_puts_the_urgent_takeover_first_with_its_wait_clock(r: redis.Redis) -> None:
    desk = await make_desk(r, rules=[TAKEOVER], sla=[{"name": "default", "first_response_minutes": 60}])
    try:
        urgent = await desk.conversation("Account takeover! Someone changed my 2FA", thread="u", user="victim")
        for i in range(4):  # newer activity than the urgent one
            await desk.conversation(f"How do I change my email {i}?", thread=f"q{i}", user=f"asker{i}")
        async with running(desk) as stack:
            page = await sign_in(stack, "sue")
            await page.goto(stack.url + "/?view=unassigned")
            rows = page.locator(".row")
            await expect(rows).to_have_count(5)
            await expect(rows.first).to_have_attribute("data-id", urgent)
            await expect(rows.first.locator(".sla")).to_have_text(re.compile(r"^\d+s$"))
            await expect(page.locator("#sort-select")).to_have_value("priority")
            await page.goto(stack.url + "/?view=unassigned&sort=activity")  # sortable: latest first
            await expect(page.locator(".row").last).to_have_attribute("data-id", urgent)
            await page.goto(stack.url + "/?view=all")
            await expect(page.locator(".row").first).not_to_have_attribute("data-id", urgent)
            await expect(page.locator(".row .sla")).to_have_count(5)  # every row shows its wait
            await page.goto(f"{stack.url}/c/{urgent}")
            sla = page.locator("#head-wait .sla")
            await expect(sla).to_be_visible()
            assert "SLA due" in (await sla.get_attribute("title") or "")
    finally:
        for c in desk.clients:
            await c.aclose()
