"""The console in a real browser (headless Chromium) against uvicorn, a running router and
sender, and the Telegram emulator as the platform."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from console.canned import CannedResponse
from routing.models import Presence

from .helpers import PASSWORD, Desk
from .stack import Stack, running, seed

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
XSS = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script> help'

pytestmark = pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="needs /usr/bin/chromium")


@pytest.fixture(autouse=True)
def telegram_token(monkeypatch: pytest.MonkeyPatch) -> None:
    from .stack import TOKEN

    monkeypatch.setenv("HL_TG_TOKEN", TOKEN)


async def sign_in(stack: Stack, username: str, width: int = 1280, height: int = 800) -> Page:
    context = await stack.browser.new_context(viewport={"width": width, "height": height})
    page = await context.new_page()
    await page.goto(stack.url + "/login")
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(stack.url + "/")
    return page


async def conversation_id(desk: Desk, chat_id: int) -> str:
    for _ in range(100):
        cid = await desk.parts.store.find_thread("telegram", "support", f"chat:{chat_id}")
        if cid:
            return cid
        await asyncio.sleep(0.05)
    raise AssertionError("the router did not thread the message")


async def test_agent_sees_message_live_replies_with_canned_and_it_is_delivered(desk: Desk) -> None:
    await desk.svc.canned.put(CannedResponse(id="greet", title="Greeting", texts={
        "en": "Hi {{contact.name}}, this is {{agent.name}}. I am checking your withdrawal now.",
        "ko": "안녕하세요 {{contact.name}}님"}))
    await desk.parts.assignments.set_presence("amy", Presence.ONLINE)
    async with running(desk) as stack:
        page = await sign_in(stack, "amy")
        await expect(page.locator("#live-status.on")).to_be_visible(timeout=10_000)
        await page.evaluate("window.__sameDocument = true")

        await stack.customer(801, "Hello, my withdrawal is stuck since this morning")
        row = page.locator(".row", has_text="withdrawal is stuck")
        await expect(row).to_be_visible(timeout=10_000)  # arrived without a reload:
        assert await page.evaluate("window.__sameDocument") is True
        await expect(row.locator(".vis")).to_have_text("PRIVATE")
        await expect(row.locator(".badge")).to_have_text("Telegram")

        await page.keyboard.press("o")
        await page.wait_for_url("**/c/*")
        await expect(page.locator(".vis-banner-private")).to_contain_text("PRIVATE conversation")
        await page.keyboard.press("r")
        await page.keyboard.press("/")
        await expect(page.locator("#canned-picker")).to_be_visible()
        await page.keyboard.type("greet")
        await page.keyboard.press("Enter")
        expected = "Hi Customer 801, this is Amy Agent. I am checking your withdrawal now."
        await expect(page.locator("#reply-text")).to_have_value(expected)
        await expect(page.locator("#counter")).to_have_text(f"{len(expected)} / 4096")
        await page.click("#send-btn")
        reply = page.locator(".item-reply", has_text="checking your withdrawal")
        await expect(reply).to_be_visible(timeout=5_000)
        await expect(reply.locator(".delivery")).to_have_class("delivery delivery-sent", timeout=10_000)

        sent = await stack.sent()
        assert [(s["chat_id"], s["kind"], s["visibility"], s["text"]) for s in sent] == [
            (801, "direct", "private", expected)]
        await expect(reply.locator(".delivery")).to_contain_text(str(sent[0]["id"]))

        # a hostile customer: the payload shows as text and never runs
        await stack.customer(802, XSS)
        cid = await conversation_id(desk, 802)
        dialogs: list[str] = []
        page.on("dialog", lambda d: dialogs.append(d.message))
        await page.goto(f"{stack.url}/c/{cid}")
        await expect(page.locator(".item-message .bubble-text")).to_have_text(XSS)
        assert await page.evaluate("window.__xss") is None and dialogs == []
        await page.goto(stack.url + "/?view=all")
        await expect(page.locator(".row-preview", has_text="onerror")).to_have_text(XSS)
        assert await page.evaluate("window.__xss") is None

        # marketing is denied a private conversation, in the page as in the API
        meg = await sign_in(stack, "meg")
        response = await meg.goto(f"{stack.url}/c/{cid}")
        assert response is not None and response.status == 403
        await expect(meg.locator(".error-message")).to_have_text("you may not see this conversation")
        await expect(meg.locator(".row")).to_have_count(0)


async def test_screenshots_of_inbox_and_conversation(desk: Desk) -> None:
    await desk.svc.canned.put(CannedResponse(id="greet", title="Greeting", texts={"en": "Hi {{contact.name}}!"}))
    for agent in ("amy", "sue"):
        await desk.parts.assignments.set_presence(agent, Presence.ONLINE)
    await seed(desk)
    async with running(desk) as stack:
        await stack.customer(901, "My withdrawal of 2.5 ETH has been pending for 3 hours. TXID?")
        cid = await conversation_id(desk, 901)
        token = await desk.token("sue")
        async with __import__("httpx").AsyncClient(base_url=stack.url, headers=token) as api:
            await api.post(f"/api/v1/conversations/{cid}/notes", json={"text": "Checked the hot wallet queue: "
                                                                       "batch 4471 is delayed, ETA 20 min."})
            await api.post(f"/api/v1/conversations/{cid}/reply", json={
                "text": "Hi! Your withdrawal is in a delayed batch; it should complete within 20 minutes."})
            await api.post(f"/api/v1/conversations/{cid}/labels", json={"add": ["withdrawal"]})
        await stack.customer(901, "Thanks. Will I need to do anything?")
        await asyncio.sleep(0.5)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page = await sign_in(stack, "sue")
        await page.goto(stack.url + "/?view=all")
        await expect(page.locator(".row")).to_have_count(7, timeout=10_000)
        await page.keyboard.press("j")
        await page.screenshot(path=str(SCREENSHOTS / "inbox.png"))
        await page.goto(f"{stack.url}/c/{cid}")
        await expect(page.locator(".delivery-sent")).to_be_visible(timeout=10_000)
        await page.screenshot(path=str(SCREENSHOTS / "conversation.png"))
        phone = await sign_in(stack, "sue", width=390, height=844)
        await phone.goto(stack.url + "/?view=all")
        await phone.screenshot(path=str(SCREENSHOTS / "inbox-phone.png"), full_page=False)
        await phone.goto(f"{stack.url}/c/{cid}")
        await phone.screenshot(path=str(SCREENSHOTS / "conversation-phone.png"), full_page=False)
    assert (SCREENSHOTS / "inbox.png").stat().st_size > 10_000
