"""Replies that did not go out, in a real browser (headless Chromium): a reply the platform
refused (the customer blocked the bot) and one cut short mid-post (uncertain) are flagged on their
inbox rows, live, and listed in views of their own."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import expect

from helpline.routing import keys
from helpline.routing.models import DeliveryState, EventType

from .helpers import Desk
from .stack import TOKEN, running
from .test_browser import conversation_id, sign_in

pytestmark = pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="needs /usr/bin/chromium")


@pytest.fixture(autouse=True)
def telegram_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HL_TG_TOKEN", TOKEN)


async def reply(desk: Desk, cid: str, text: str) -> str:
    web = desk.client()
    response = await web.post(
        f"/api/v1/conversations/{cid}/reply", json={"text": text}, headers=await desk.token("sue")
    )
    assert response.status_code == 200, response.text
    events = await desk.parts.store.events(cid)
    return next(str(e.data["reply_id"]) for e in reversed(events) if e.type is EventType.REPLY_QUEUED)


async def test_failed_and_uncertain_sends_are_flagged_on_the_row_and_have_their_views(desk: Desk) -> None:
    # a sender killed while posting this reply left its record "sending": nobody knows if it went
    uncertain = await desk.conversation(
        "Is my deposit there?", thread="chat:822", user="822", platform="telegram", account="support"
    )
    reply_id = await reply(desk, uncertain, "Checking the deposit now")
    await desk.parts.client.hset(
        keys.delivery(keys.conversation_partition(uncertain), reply_id), "state", DeliveryState.SENDING.value
    )
    async with running(desk) as stack:
        page = await sign_in(stack, "sue")
        await page.goto(stack.url + "/?view=all")
        row = page.locator(f".row[data-id='{uncertain}']")
        await expect(row.locator(".send-uncertain")).to_have_text("maybe sent")

        await stack.customer(821, "Please confirm my withdrawal")
        refused = await conversation_id(desk, 821)
        await stack.emulator.post("/_emulator/blocks", json={"user_id": 821})
        await reply(desk, refused, "Your withdrawal is confirmed")
        row = page.locator(f".row[data-id='{refused}']")
        await expect(row.locator(".send-failed")).to_have_text("send failed")  # live
        await expect(row.locator(".send-uncertain")).to_have_count(0)
        await expect(page.locator("[data-count='failed']")).to_have_text("1")
        await expect(page.locator("[data-count='uncertain']")).to_have_text("1")

        await page.click("a.view[data-view='failed']")
        await expect(page.locator("h1")).to_have_text("Failed sends")
        await expect(page.locator(".row")).to_have_count(1)
        await expect(page.locator(".row").first).to_have_attribute("data-id", refused)
        await page.click("a.view[data-view='uncertain']")
        await expect(page.locator("h1")).to_have_text("Uncertain sends")
        await expect(page.locator(".row")).to_have_count(1)
        await expect(page.locator(".row").first).to_have_attribute("data-id", uncertain)
        await page.goto(stack.url + "/?view=all")
        await expect(page.locator(f".row[data-id='{uncertain}'] .send-uncertain")).to_be_visible()  # server-rendered
        await expect(page.locator(".row .send-failed")).to_have_count(1)
