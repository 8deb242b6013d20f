"""Accessibility in a real browser: axe-core (WCAG 2.1 A/AA and best practices) finds no serious or
critical violation on the inbox, a conversation, the reports, the examples, the announcements and the
admin's users and API tokens; the skip link leads past the navigation; a 390 px phone never scrolls sideways."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import redis.asyncio as redis
from playwright.async_api import Page, expect

from helpline.bots.examples import ExampleStore, Source
from helpline.bots.kb import load_kb
from helpline.console.roles import Role
from helpline.insights.bench import Builder, build
from helpline.routing.models import Presence
from tests.bots.conftest import KB_DIR

from .axe import serious_violations
from .helpers import PASSWORD, Desk, make_desk
from .stack import Stack, running, seed
from .test_browser import ACCOUNTS, sign_in

pytestmark = pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="needs /usr/bin/chromium")


@pytest.fixture(autouse=True)
def telegram_token(monkeypatch: pytest.MonkeyPatch) -> None:
    from .stack import TOKEN

    monkeypatch.setenv("HL_TG_TOKEN", TOKEN)


async def sign_in_for_axe(stack: Stack, username: str, found: dict[str, list[str]]) -> Page:
    """A signed-in page whose context lets the test inject axe (the console's CSP forbids it)."""
    context = await stack.browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    page = await context.new_page()
    await page.goto(stack.url + "/login")
    found["login"] = await serious_violations(page)
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(stack.url + "/")
    return page


async def test_axe_finds_no_serious_violation_on_the_main_pages(r: redis.Redis) -> None:
    desk = await make_desk(r, accounts=ACCOUNTS)
    try:
        await desk.parts.assignments.set_presence("sue", Presence.ONLINE)
        await seed(desk)
        desk.svc.articles = load_kb(KB_DIR)  # the conversation page's "this article answers it"
        await ExampleStore(r).propose(
            "2fa-reset", "en", "lost my phone, authenticator gone", Source.LINK, conversation_id="0-1", who="agent:amy"
        )
        today = datetime.now(ZoneInfo(desk.parts.settings.insights.timezone)).date()
        await build(r, Builder(), today - timedelta(days=14), conversations=300)
        async with running(desk) as stack:
            found: dict[str, list[str]] = {}
            sue = await sign_in_for_axe(stack, "sue", found)
            rows = sue.locator(".row")
            await expect(rows).to_have_count(6)
            found["inbox"] = await serious_violations(sue)
            await rows.first.locator("a").first.click()
            await sue.wait_for_url("**/c/*")
            await expect(sue.locator("#composer")).to_be_visible()
            found["conversation"] = await serious_violations(sue)
            await sue.goto(stack.url + "/reports")
            await expect(sue.locator("svg.chart").first).to_be_visible()
            found["reports"] = await serious_violations(sue)
            await sue.goto(stack.url + "/announcements")
            found["announcements (supervisor)"] = await serious_violations(sue)
            await sue.goto(stack.url + "/examples")
            await expect(sue.locator("#examples tbody tr")).to_have_count(1)
            found["examples"] = await serious_violations(sue)
            meg = await sign_in_for_axe(stack, "meg", found)
            await meg.goto(stack.url + "/announcements")
            await expect(meg.locator("#compose-form")).to_be_visible()
            found["announcements (marketing)"] = await serious_violations(meg)
            report = [f"{page}: {v}" for page, found_there in found.items() for v in found_there]
            assert not report, "\n".join(report)

            # the skip link is the first stop of the keyboard and lands on the page's content
            await sue.goto(stack.url + "/")
            await sue.keyboard.press("Tab")
            skip = sue.locator("a.skip-link")
            await expect(skip).to_be_focused()
            await expect(skip).to_be_visible()
            await sue.keyboard.press("Enter")
            assert await sue.evaluate("document.activeElement.id") == "content"
    finally:
        for c in desk.clients:
            await c.aclose()


NO_SIDEWAYS_SCROLL = """() => {
  const nav = document.querySelector('.topnav');
  const outside = [...document.querySelectorAll('.topbar a, .topbar button, .topbar select, .topbar summary')]
    .filter((n) => n.offsetParent !== null)
    .filter((n) => { const r = n.getBoundingClientRect(); return r.left < 0 || r.right > window.innerWidth; })
    .map((n) => n.textContent.trim() || n.id);
  return {page: document.documentElement.scrollWidth - window.innerWidth,
          nav: nav.scrollWidth - nav.clientWidth, outside};
}"""
WIDEST = """() => [...document.querySelectorAll('body *')]
  .filter((n) => n.getBoundingClientRect().right > window.innerWidth + 0.5)
  .slice(-5).map((n) => n.tagName + '.' + n.className + ' ' + Math.round(n.getBoundingClientRect().right))"""


async def test_admin_pages_pass_axe_and_a_390_px_phone_never_scrolls_sideways(desk: Desk) -> None:
    await desk.svc.tokens.create("nightly export", "amy", Role.AGENT)
    async with running(desk) as stack:
        found: dict[str, list[str]] = {}
        root = await sign_in_for_axe(stack, "root", found)
        for path in ("/users", "/tokens"):
            await root.goto(stack.url + path)
            await expect(root.locator("h1")).to_be_visible()
            found[path] = await serious_violations(root)
        report = [f"{page}: {v}" for page, found_there in found.items() for v in found_there]
        assert not report, "\n".join(report)

        cid = await desk.conversation("my withdrawal is stuck", thread="phone", user="p1")
        phone = await sign_in(stack, "root", width=390, height=844)  # an admin: the longest navigation
        for path in ("/", f"/c/{cid}", "/users", "/tokens", "/canned", "/reports", "/announcements"):
            await phone.goto(stack.url + path)
            await expect(phone.locator(".topnav a")).to_have_count(7)
            assert await phone.evaluate(NO_SIDEWAYS_SCROLL) == {"page": 0, "nav": 0, "outside": []}, (
                path,
                await phone.evaluate(WIDEST),
            )
