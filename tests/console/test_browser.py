"""The console in a real browser (headless Chromium) against uvicorn, a running router and
sender, and the Telegram emulator as the platform."""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis.asyncio as redis
from playwright.async_api import Page, expect

from helpline.console.canned import CannedResponse
from helpline.insights.bench import Builder, build
from helpline.routing.models import Presence

from .helpers import PASSWORD, Desk, make_desk
from .stack import Stack, running, seed

# `make screenshots` sets HELPLINE_SCREENSHOTS=docs/screenshots; plain test runs leave docs/ alone.
SCREENSHOTS = Path(os.environ.get("HELPLINE_SCREENSHOTS") or tempfile.mkdtemp(prefix="helpline-screenshots-"))
XSS = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script> help'

pytestmark = pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="needs /usr/bin/chromium")


@pytest.fixture(autouse=True)
def telegram_token(monkeypatch: pytest.MonkeyPatch) -> None:
    from .stack import TOKEN

    monkeypatch.setenv("HL_TG_TOKEN", TOKEN)


async def sign_in(
    stack: Stack,
    username: str,
    width: int = 1280,
    height: int = 800,
    *,
    password: str = PASSWORD,
    init_script: str = "",
    **context: Any,
) -> Page:
    """A fresh browser profile (`context`: more of its options, `init_script`: run in every page), signed in."""
    browser_context = await stack.browser.new_context(viewport={"width": width, "height": height}, **context)
    if init_script:
        await browser_context.add_init_script(init_script)
    page = await browser_context.new_page()
    await page.goto(stack.url + "/login")
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", password)
    await page.click("button[type=submit]")
    await page.wait_for_url(stack.url + "/")  # signed in before the test navigates on
    return page


async def conversation_id(desk: Desk, chat_id: int, wait: float = 30.0) -> str:
    deadline = time.monotonic() + wait  # a deadline, not a count of polls: the router is slow under load
    while time.monotonic() < deadline:
        cid = await desk.parts.store.find_thread("telegram", "support", f"chat:{chat_id}")
        if cid:
            return cid
        await asyncio.sleep(0.05)
    raise AssertionError("the router did not thread the message")


async def test_agent_sees_message_live_replies_with_canned_and_it_is_delivered(desk: Desk) -> None:
    await desk.svc.canned.put(
        CannedResponse(
            id="greet",
            title="Greeting",
            texts={
                "en": "Hi {{contact.name}}, this is {{agent.name}}. I am checking your withdrawal now.",
                "ko": "안녕하세요 {{contact.name}}님",
            },
        )
    )
    await desk.parts.assignments.set_presence("amy", Presence.ONLINE)
    async with running(desk) as stack:
        page = await sign_in(stack, "amy")
        await expect(page.locator("#live-status.on")).to_be_visible()
        await page.evaluate("window.__sameDocument = true")

        await stack.customer(801, "Hello, my withdrawal is stuck since this morning")
        row = page.locator(".row", has_text="withdrawal is stuck")
        await expect(row).to_be_visible()  # arrived without a reload:
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
        await expect(reply).to_be_visible()
        await expect(reply.locator(".delivery")).to_have_class("delivery delivery-sent")

        sent = await stack.sent()
        assert [(s["chat_id"], s["kind"], s["visibility"], s["text"]) for s in sent] == [
            (801, "direct", "private", expected)
        ]
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
            await api.post(
                f"/api/v1/conversations/{cid}/notes",
                json={"text": "Checked the hot wallet queue: batch 4471 is delayed, ETA 20 min."},
            )
            await api.post(
                f"/api/v1/conversations/{cid}/reply",
                json={"text": "Hi! Your withdrawal is in a delayed batch; it should complete within 20 minutes."},
            )
            await api.post(f"/api/v1/conversations/{cid}/labels", json={"add": ["withdrawal"]})
        await stack.customer(901, "Thanks. Will I need to do anything?")
        await asyncio.sleep(0.5)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page = await sign_in(stack, "sue")
        await page.goto(stack.url + "/?view=all")
        await expect(page.locator(".row")).to_have_count(7)
        await page.keyboard.press("j")
        await page.screenshot(path=str(SCREENSHOTS / "inbox.png"))
        await page.goto(f"{stack.url}/c/{cid}")
        await expect(page.locator(".delivery-sent")).to_be_visible()
        await page.screenshot(path=str(SCREENSHOTS / "conversation.png"))
        phone = await sign_in(stack, "sue", width=390, height=844)
        await phone.goto(stack.url + "/?view=all")
        await phone.screenshot(path=str(SCREENSHOTS / "inbox-phone.png"), full_page=False)
        await phone.goto(f"{stack.url}/c/{cid}")
        await phone.screenshot(path=str(SCREENSHOTS / "conversation-phone.png"), full_page=False)
    assert (SCREENSHOTS / "inbox.png").stat().st_size > 10_000


ACCOUNTS = [
    {"platform": "null", "name": "main"},
    {"platform": "x", "name": "exchange"},
    {"platform": "telegram", "name": "exchange_bot"},
    {"platform": "mastodon", "name": "exchange"},
]


async def test_one_product_supervisor_and_marketing_share_the_layout(r: redis.Redis) -> None:
    """Inbox → reports → announcements in one layout; each role sees only the pages it may open."""
    desk = await make_desk(r, accounts=ACCOUNTS)
    try:
        await desk.parts.assignments.set_presence("sue", Presence.ONLINE)
        await seed(desk)
        today = datetime.now(ZoneInfo(desk.parts.settings.insights.timezone)).date()
        await build(r, Builder(), today - timedelta(days=63), conversations=3000)  # ten weeks of figures
        async with running(desk) as stack:
            # marketing: the inbox shows public threads only; announcements, never reports
            meg = await sign_in(stack, "meg")
            csp_errors = watch_csp(meg)
            await expect(meg.locator(".row")).to_have_count(2)
            assert await meg.locator(".row .vis").all_text_contents() == ["PUBLIC", "PUBLIC"]
            await expect(meg.locator(".topnav a")).to_have_text(["Inbox", "Announcements", "API tokens"])
            await meg.click(".topnav >> text=Announcements")
            await meg.wait_for_url("**/announcements")
            await expect(meg.locator(".topnav a.active")).to_have_text("Announcements")
            await expect(meg.locator("#compose-form")).to_be_visible()
            await meg.fill("input[name=title]", "Deposit maintenance")
            await meg.fill(
                "textarea[name=text]",
                "Deposits pause on Saturday 02:00–04:00 UTC for wallet "
                "maintenance. 토요일 02:00–04:00 입금이 일시 중단됩니다.",
            )
            await meg.check("input[value='x_timeline|exchange']")
            await meg.check("input[value='telegram_subscribers|exchange_bot']")
            await expect(meg.locator("#preview .preview-target")).to_have_count(2)
            await meg.click("#compose-form button[type=submit]")  # the JSON API with the session's CSRF token
            row = meg.locator("#rows tr", has_text="Deposit maintenance")
            await expect(row.locator(".state")).to_have_text("draft")
            await expect(meg.locator("#compose-error")).to_have_text("")
            await meg.fill("input[name=title]", "Withdrawal delays")
            await meg.fill("textarea[name=text]", "Some BTC withdrawals are delayed. We are on it; funds are safe.")
            await meg.check("input[value='mastodon_account|exchange']")
            await meg.fill("input[name=incident-keywords]", "withdrawal, 출금, 提现")
            await expect(meg.locator("#preview .preview-target")).to_have_count(1)
            await meg.set_viewport_size({"width": 1280, "height": 1000})
            await meg.evaluate("document.querySelector('main').scrollTo(0, 0)")
            await meg.screenshot(path=str(SCREENSHOTS / "announcements.png"))
            await row.locator("button", has_text="Submit").click()
            await expect(row.locator(".state")).to_have_text("awaiting approval")
            assert await row.locator("button", has_text="Approve").count() == 0  # marketing never approves
            response = await meg.goto(stack.url + "/reports")
            assert response is not None and response.status == 403
            assert csp_errors == []

            # a supervisor: inbox → reports (SVG charts) → announcements (approves what marketing submitted)
            sue = await sign_in(stack, "sue", height=1000)
            csp_errors = watch_csp(sue)
            await expect(sue.locator(".row")).to_have_count(6)
            await expect(sue.locator(".topnav a")).to_have_text(
                ["Inbox", "Reports", "Examples", "Canned", "Announcements", "API tokens"]
            )
            await expect(sue.locator("#presence-select")).to_have_value("online")
            await sue.click(".topnav >> text=Reports")
            await sue.wait_for_url("**/reports")
            charts = sue.locator("svg.chart[role=img]")
            await expect(charts).to_have_count(7)
            for i in range(7):
                box = await charts.nth(i).bounding_box()
                assert box is not None and 200 < box["width"] <= 640 and box["height"] > 40
            assert await sue.locator("svg.chart-heatmap rect").count() == 7 * 24
            assert await sue.locator("svg.chart-bar rect.bar").count() >= 5
            opened = sue.locator("section[aria-labelledby=h-summary] tr", has_text="opened").first
            assert int((await opened.locator("td").inner_text()).replace(",", "")) > 50
            await expect(sue.locator(".topnav a.active")).to_have_text("Reports")
            await sue.screenshot(path=str(SCREENSHOTS / "reports.png"))
            await sue.click(".topnav >> text=Announcements")
            await sue.wait_for_url("**/announcements")
            await expect(sue.locator("#compose-form")).to_have_count(0)  # composing is marketing's
            await expect(sue.locator(".note-card")).to_contain_text("Marketing composes")
            submitted = sue.locator("#rows tr", has_text="Deposit maintenance")
            await expect(submitted.locator("button", has_text="Approve")).to_be_visible()
            await sue.click(".topnav >> text=Inbox")
            await sue.wait_for_url(stack.url + "/")
            assert csp_errors == []

            # phone width: the same nav, wrapped under the brand; charts scale to the screen
            phone = await sign_in(stack, "sue", width=390, height=844)
            await phone.goto(stack.url + "/reports")
            await expect(phone.locator(".topnav a")).to_have_count(6)
            assert await phone.evaluate("document.documentElement.scrollWidth") <= 390
            for i in range(7):
                box = await phone.locator("svg.chart").nth(i).bounding_box()
                assert box is not None and box["width"] <= 390
            await phone.screenshot(path="/tmp/reports-phone.png")
            await phone.goto(stack.url + "/announcements")
            await expect(phone.locator("#rows tr")).to_have_count(1)
            assert await phone.evaluate("document.documentElement.scrollWidth") <= 390
            await phone.screenshot(path="/tmp/announcements-phone.png")
    finally:
        for c in desk.clients:
            await c.aclose()


def watch_csp(page: Page) -> list[str]:
    """Console messages that report a Content-Security-Policy violation."""
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
    return errors


async def test_api_docs_render_from_this_server_under_the_csp(desk: Desk) -> None:
    async with running(desk) as stack:
        context = await stack.browser.new_context()
        page = await context.new_page()
        foreign: list[str] = []
        violations: list[str] = []
        page.on("request", lambda r: None if r.url.startswith(stack.url) else foreign.append(r.url))
        page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
        response = await page.goto(stack.url + "/api/docs")
        assert response is not None and "script-src 'self'" in response.headers["content-security-policy"]
        await expect(page.locator(".opblock-tag", has_text="conversations").first).to_be_visible()
        assert foreign == [] and violations == []
        await context.close()
