"""Learning from agents in a real browser (headless Chromium): an agent marks "this article
answers it", a supervisor approves the question on the examples page."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import expect

from helpline.bots.examples import ExampleStore, Status
from helpline.bots.kb import load_kb
from tests.bots.conftest import KB_DIR

from .helpers import Desk
from .stack import running
from .test_browser import conversation_id, sign_in

pytestmark = pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="needs /usr/bin/chromium")
QUESTION = "lost my phone and the authenticator with it, how do i get in"


@pytest.fixture(autouse=True)
def telegram_token(monkeypatch: pytest.MonkeyPatch) -> None:
    from .stack import TOKEN

    monkeypatch.setenv("HL_TG_TOKEN", TOKEN)


async def test_an_agent_marks_the_article_and_a_supervisor_approves_it(desk: Desk) -> None:
    desk.svc.articles = load_kb(KB_DIR)
    store = ExampleStore(desk.parts.client)
    async with running(desk) as stack:
        await stack.customer(901, QUESTION)
        cid = await conversation_id(desk, 901)
        agent = await sign_in(stack, "sue")  # a supervisor answers customers too
        await agent.goto(f"{stack.url}/c/{cid}")
        await agent.select_option("#mark-article select[name=article]", "2fa-reset")
        await agent.click("#mark-article button[type=submit]")
        await expect(agent.locator("#example-proposed")).to_contain_text("awaits a supervisor")
        (example,) = await store.all()
        assert example.status is Status.PENDING and example.text == QUESTION

        await agent.click("nav >> text=Examples")
        await agent.wait_for_url("**/examples")
        row = agent.locator(f"tr[data-example='{example.id}']")
        await expect(row.locator(".question")).to_have_text(QUESTION)
        await expect(row).to_contain_text("2fa-reset")
        await expect(agent.locator("[data-count=pending]")).to_have_text("1")
        await row.locator("button", has_text="Approve").click()
        await expect(agent.locator("#no-examples")).to_be_visible()
        await expect(agent.locator("[data-count=approved]")).to_have_text("1")
        approved = await store.get(example.id)
        assert approved is not None and approved.status is Status.APPROVED and approved.decided_by == "agent:sue"

        await agent.click("a.view >> text=Approved")
        row = agent.locator(f"tr[data-example='{example.id}']")
        await row.locator("button", has_text="Withdraw").click()
        await expect(agent.locator("[data-count=rejected]")).to_have_text("1")
        withdrawn = await store.get(example.id)
        assert withdrawn is not None and withdrawn.status is Status.REJECTED
        assert await store.version() == 2

        amy = await sign_in(stack, "amy")  # an agent: no Examples page
        await expect(amy.locator("nav >> text=Examples")).to_have_count(0)
        response = await amy.goto(f"{stack.url}/examples")
        assert response is not None and response.status == 403
