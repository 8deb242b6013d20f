"""Before a person answers, in a real browser: the visitor queued for an open team sees the usual
wait; off hours they leave an e-mail address, the agent sees it, and the answer is mailed there
through the e-mail account (a real SMTP relay) or, without one, the agent is told it is not."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import redis.asyncio as redis
from playwright.async_api import expect

from helpline.connectors.email.mailservers import Relay
from helpline.routing.hours import DAYS
from tests.bots.test_waiting import record

from .browser import chromium, conversation_of, open_chat, say, signed_in_agent
from .stack import running, until

MAIL_ENV = {
    "MAIL_USER": "support",
    "MAIL_PASSWORD": "imap-secret",
    "SMTP_USER": "relay-user",
    "SMTP_PASSWORD": "relay-secret",
}


@pytest.fixture
def relay(monkeypatch: pytest.MonkeyPatch) -> Iterator[Relay]:
    for name, value in MAIL_ENV.items():
        monkeypatch.setenv(name, value)
    server = Relay("relay-user", "relay-secret").start()
    yield server
    server.stop()


def mail_account(relay: Relay) -> dict[str, object]:
    """An e-mail account that only sends here (its mailbox is never read in this test)."""
    return {
        "platform": "email",
        "name": "mail",
        "secrets": {
            "username": "MAIL_USER",
            "password": "MAIL_PASSWORD",
            "smtp_username": "SMTP_USER",
            "smtp_password": "SMTP_PASSWORD",
        },
        "options": {
            "address": "support@helpline.test",
            "imap_host": "127.0.0.1",
            "imap_security": "none",
            "smtp_host": "127.0.0.1",
            "smtp_port": relay.port,
            "smtp_security": "none",
        },
    }


def closed_today() -> list[dict[str, object]]:
    today = DAYS[datetime.now(ZoneInfo("Asia/Seoul")).weekday()]
    week = {day: ["09:00-18:00"] for day in DAYS if day != today}
    return [{"id": "support", "default": True, "hours": {"timezone": "Asia/Seoul", "weekly": week}}]


async def test_a_visitor_queued_for_a_person_sees_the_usual_wait(r: redis.Redis) -> None:
    await record(r, [240, 250, 260], datetime.now(UTC) - timedelta(hours=2))  # the team's recent replies
    async with running(r, agent_online=False) as chat, chromium() as browser:
        visitor = await open_chat(browser, chat.site + "/")
        await say(visitor, "I want to talk to a human")
        await expect(visitor.locator(".from-bot", has_text="passing you to a member")).to_be_visible()
        await expect(visitor.locator(".from-bot", has_text="usual wait: about 4 min")).to_be_visible()
        await expect(visitor.locator(".email-ask")).to_have_count(0)  # open hours: nothing to leave


@pytest.mark.parametrize("mailed", [True, False], ids=["e-mail account", "no e-mail account"])
async def test_off_hours_the_visitor_leaves_an_address_and_the_answer_reaches_it(
    r: redis.Redis, relay: Relay, mailed: bool
) -> None:
    desk = {"teams": closed_today(), "accounts": [mail_account(relay)]}
    options = {"email_account": "mail"} if mailed else {}
    async with running(r, desk=desk, agent_online=False, **options) as chat, chromium() as browser:
        visitor = await open_chat(browser, chat.site + "/")
        await say(visitor, "I want to talk to a human")
        await expect(visitor.locator(".from-bot", has_text="offline right now")).to_be_visible()
        address = visitor.get_by_role("textbox", name="E-mail address")
        await address.fill("not an address")
        await address.press("Enter")
        await expect(visitor.locator(".email-left")).to_have_count(0)  # the browser refuses it first
        await address.fill("ann@example.com")
        await address.press("Enter")
        await expect(visitor.locator(".email-left")).to_have_text("We will send our answer to ann@example.com")
        await expect(visitor.locator(".email-ask")).to_have_count(0)
        cid = await conversation_of(chat, visitor)

        agent = await signed_in_agent(browser, chat)
        await agent.goto(f"{chat.url}/c/{cid}")
        await expect(agent.locator("#contact-email")).to_have_text("ann@example.com")
        note = agent.locator("#email-copy")
        await expect(note).to_contain_text("also mailed there" if mailed else "replies are not mailed there")
        await agent.keyboard.press("r")
        await agent.locator("#reply-text").fill("Hi Ann, your withdrawal went out this morning.")
        await agent.click("#send-btn")
        await expect(visitor.locator(".from-agent")).to_have_text(
            "Support: Hi Ann, your withdrawal went out this morning."
        )
        if mailed:

            async def mailed_out() -> bool:
                return bool(relay.received)

            assert await until(mailed_out)
            [mail] = relay.received
            assert mail.recipients == ("ann@example.com",)
            assert "Hi Ann, your withdrawal went out this morning." in mail.message.get_body(("plain",)).get_content()
            copy_sent = agent.locator("#timeline").get_by_text("e-mail copy to ann@example.com: sent")
            await expect(copy_sent).to_be_visible()  # the copy's own event, live in the agent's page
        else:
            await visitor.wait_for_timeout(1000)
            assert relay.received == []
