"""An agent links, from the side panel (headless Chromium), a contact whose conversations have all
left Redis: found in the record, linked, shown as linked with its archived conversation."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis.asyncio as redis
from playwright.async_api import expect

from helpline.archive.database import Database
from tests.console.stack import TOKEN, running
from tests.console.test_browser import sign_in

from .test_contact_search import _archived_desk

pytestmark = pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="needs /usr/bin/chromium")


@pytest.fixture(autouse=True)
def telegram_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HL_TG_TOKEN", TOKEN)


async def test_an_agent_links_an_archived_contact(r: redis.Redis, db: Database, database_url: str) -> None:
    desk, convs = await _archived_desk(r, database_url)
    here = await desk.conversation("I wrote before from my other account", thread="here", user="minjun2")
    async with running(desk) as stack:
        amy = await sign_in(stack, "amy")
        await amy.goto(f"{stack.url}/c/{here}")
        await amy.click("#link-contact summary")
        await amy.fill("#link-q", "kim")  # a word of the name the record holds ("Min-jun Kim")
        await amy.click("#link-contact button[type=submit]")
        found = amy.locator("#link-matches li[data-contact]")
        await expect(found).to_have_count(1)
        await expect(found).to_have_attribute("data-contact", "null:main:kim")
        await amy.fill("#link-q", "whale")  # the vip team's customer, archived too: not amy's to find
        await amy.click("#link-contact button[type=submit]")
        await expect(amy.locator("#link-none")).to_be_visible()
        await expect(found).to_have_count(0)
        await amy.fill("#link-q", "mj@example")  # by e-mail address
        await amy.click("#link-contact button[type=submit]")
        await expect(found).to_have_attribute("data-contact", "null:main:kim")
        await amy.click("[aria-label='Link Min-jun Kim (Null)']")
        await amy.wait_for_url(f"**/c/{here}")
        await expect(amy.locator("#linked-contacts li")).to_have_attribute("data-contact", "null:main:kim")
        assert await desk.svc.links.group("null:main:minjun2") == ["null:main:minjun2", "null:main:kim"]
        # the archived conversation of the person, from the record, in the timeline
        await expect(amy.locator(".other-preview", has_text="출금이 안돼요")).to_be_visible()  # collapsed, summarized
    assert convs
    await desk.svc.record.close()
