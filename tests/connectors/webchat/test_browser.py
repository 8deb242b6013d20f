"""The web chat in a real browser (headless Chromium): the widget on a stand-in company site (its
own origin), the console on uvicorn with the router, the help-center bot and the sender running."""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

import httpx
import pytest
import redis.asyncio as redis
from playwright.async_api import expect

from helpline.console.roles import Role
from helpline.routing import keys
from tests.console.stack import CHROMIUM

from .browser import chromium, conversation_of, open_chat, say, signed_in_agent
from .stack import kept_by_mail, mailed_answer, mailing_desk, running, until

SCREENSHOTS = Path(os.environ.get("HELPLINE_SCREENSHOTS") or tempfile.mkdtemp(prefix="helpline-screenshots-"))

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs /usr/bin/chromium")


async def test_bot_answers_then_an_agent_replies_in_the_console_and_the_visitor_sees_it_live(r: redis.Redis) -> None:
    async with running(r) as chat, chromium() as browser:
        visitor = await open_chat(browser, chat.site + "/")
        await visitor.evaluate("window.__samePage = true")
        # before the chat starts, help-center articles for what the visitor types (deflection)
        await visitor.get_by_role("textbox", name="Type your message").press_sequentially("How do I set up 2FA")
        hints = visitor.get_by_role("navigation", name="Articles that may help")
        article = hints.get_by_role("link", name="How to set up two-factor authentication (2FA)")
        await expect(article).to_have_attribute("href", f"{chat.url}/help/en/2fa-setup")
        await say(visitor, "How do I set up 2FA?")
        await expect(hints).to_be_hidden()
        await expect(visitor.locator(".from-visitor")).to_have_text("You: How do I set up 2FA?")
        await expect(visitor.locator(".from-bot").first).to_contain_text("2FA")
        await expect(visitor.locator(".choices button", has_text="Yes")).to_be_visible()
        await say(visitor, "No, I want to talk to a human")
        await expect(visitor.locator(".from-bot", has_text="passing you to a member")).to_be_visible()
        cid = await conversation_of(chat, visitor)

        agent = await signed_in_agent(browser, chat)
        await expect(agent.locator(".row .badge", has_text="Web chat")).to_be_visible()
        await agent.goto(f"{chat.url}/c/{cid}")
        await expect(agent.locator(".vis-banner-private")).to_be_visible()
        await visitor.get_by_role("textbox", name="Type your message").press_sequentially("Thanks, I am wai")
        await expect(agent.locator("#collision")).to_contain_text("Customer is typing")
        await visitor.get_by_role("textbox", name="Type your message").fill("")
        await agent.keyboard.press("r")
        await agent.locator("#reply-text").press_sequentially("Hi, this is Amy. Let me reset your 2FA with you.")
        await expect(visitor.get_by_role("status")).to_have_text("Support is typing…")
        await agent.click("#send-btn")

        answer = visitor.locator(".from-agent")
        await expect(answer).to_have_text("Support: Hi, this is Amy. Let me reset your 2FA with you.")
        assert await visitor.evaluate("window.__samePage") is True  # arrived without a reload
        await expect(visitor.get_by_role("status")).to_have_text("")  # the reply ends the indicator
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await visitor.screenshot(path=str(SCREENSHOTS / "webchat.png"))
        phone = await open_chat(browser, chat.site + "/", width=390, height=844)
        await expect(phone.locator(".from-agent")).to_have_count(0)  # another visitor: nothing of this chat
        await phone.screenshot(path=str(SCREENSHOTS / "webchat-phone.png"))


@pytest.mark.parametrize("transport", ["ws", "sse"])
async def test_messages_sent_while_the_visitor_was_offline_arrive_once_after_reconnecting(
    r: redis.Redis, transport: str
) -> None:
    async with running(r, transport=transport if transport == "sse" else None) as chat, chromium() as browser:
        visitor = await (await browser.new_context()).new_page()
        sockets: list[str] = []
        streams: list[str] = []
        visitor.on("websocket", lambda ws: sockets.append(ws.url))
        visitor.on("request", lambda q: streams.append(q.url) if q.url.endswith("/events") else None)
        await visitor.goto(chat.site + "/")
        await visitor.get_by_role("button", name="Chat with support").click()
        await say(visitor, "I need a person please")
        await expect(visitor.locator(".from-bot", has_text="passing you to a member")).to_be_visible()
        cid = await conversation_of(chat, visitor)
        token, _ = await chat.app.state.console.tokens.create("test", "amy", Role.AGENT)

        await visitor.context.set_offline(True)
        await expect(visitor.get_by_role("status")).to_contain_text("Offline")
        stream = keys.webchat_events(
            "site", await visitor.evaluate("JSON.parse(localStorage.getItem(Object.keys(localStorage)[0])).chat")
        )
        before = await r.xlen(stream)
        async with httpx.AsyncClient(base_url=chat.url, headers={"Authorization": f"Bearer {token}"}) as api:
            for text in ("First: I am checking your account.", "Second: done, you can log in again."):
                sent = await api.post(f"/api/v1/conversations/{cid}/reply", json={"text": text})
                assert sent.status_code in (200, 201, 202), sent.text

        async def both_delivered() -> bool:  # into the chat while the visitor is away
            return bool(await r.xlen(stream) >= before + 2)

        assert await until(both_delivered)
        assert await r.xlen(stream) == before + 2
        await asyncio.sleep(0.5)
        await expect(visitor.locator(".from-agent")).to_have_count(0)

        await visitor.context.set_offline(False)
        await expect(visitor.locator(".from-agent")).to_have_count(2)
        await expect(visitor.locator(".from-agent")).to_have_text(
            ["Support: First: I am checking your account.", "Support: Second: done, you can log in again."]
        )
        await asyncio.sleep(1.0)  # nothing arrives twice after the reconnect
        await expect(visitor.locator(".from-agent")).to_have_count(2)
        await expect(visitor.locator(".from-visitor")).to_have_count(1)
        if transport == "ws":  # reconnected over a WebSocket, never needing the fallback
            assert len(sockets) >= 2 and streams == []
        else:
            assert sockets == [] and len(streams) >= 2


async def test_a_forged_identity_is_refused_and_a_verified_one_is_linked(r: redis.Redis) -> None:
    async with running(r) as chat, chromium() as browser:
        forged = await open_chat(browser, chat.site + "/signed-in?user=42&forged=1")
        await expect(forged.get_by_role("status")).to_contain_text("could not be verified")
        await say(forged, "let me in")
        await asyncio.sleep(0.5)
        await expect(forged.locator(".msg")).to_have_count(0)  # nothing was sent

        signed = await open_chat(browser, chat.site + "/signed-in?user=42")
        await say(signed, "Where is my deposit?")
        await expect(signed.locator(".from-visitor")).to_have_count(1)
        cid = await conversation_of(chat, signed)
        conversation = await chat.parts.store.get(cid)
        assert conversation is not None and conversation.contact_id.endswith("user:42")

        # several conversations: a new one, then back to the first from the history list
        await signed.get_by_role("button", name="New conversation").click()
        await expect(signed.locator(".msg")).to_have_count(0)
        await say(signed, "What are the trading fees?")
        await expect(signed.locator(".from-visitor")).to_have_text(["You: What are the trading fees?"])
        await signed.get_by_role("button", name="Your conversations").click()
        entries = signed.get_by_role("list", name="Your conversations").get_by_role("button")
        await expect(entries).to_have_count(2)
        await expect(entries.first).to_contain_text("What are the trading fees?")
        await entries.nth(1).click()
        await expect(signed.locator(".from-visitor")).to_have_text(["You: Where is my deposit?"])
        # the same customer on another device sees both chats
        other_device = await open_chat(browser, chat.site + "/signed-in?user=42")
        await other_device.get_by_role("button", name="Your conversations").click()
        await expect(other_device.get_by_role("list", name="Your conversations").get_by_role("button")).to_have_count(2)


async def test_the_visitors_answer_by_e_mail_appears_in_the_open_chat_with_its_files_to_download(
    r: redis.Redis, tmp_path: Path
) -> None:
    """What the e-mail poller hands the web chat (`Connector.arrived_elsewhere`; the whole path
    through Dovecot: tests/connectors/email/test_webchat_copy.py) shows live as the visitor's, with
    its file a link that downloads the bytes the e-mail account kept."""
    async with running(r, desk=mailing_desk(tmp_path), email_account="support") as chat, chromium() as browser:
        visitor = await open_chat(browser, chat.site + "/")
        await say(visitor, "My deposit is missing")
        await expect(visitor.locator(".from-visitor")).to_have_count(1)
        chat_id = await visitor.evaluate("JSON.parse(localStorage.getItem(Object.keys(localStorage)[0])).chat")
        owner = await chat.parts.connectors[("webchat", "site")].chats.owner(chat_id)  # type: ignore[attr-defined]
        pdf = b"%PDF-1.4 the statement \xe2\x82\xa9"
        kept = await kept_by_mail(chat, pdf, "statement 3월.pdf")
        mailed = mailed_answer(chat_id, owner, "Here is my statement.", kept)
        await chat.parts.connectors[("webchat", "site")].arrived_elsewhere(mailed, "email")
        answer = visitor.locator(".from-visitor").nth(1)
        await expect(answer).to_have_text("You: Here is my statement.\n\U0001f4ce statement 3월.pdf")
        link = answer.get_by_role("link", name="statement 3월.pdf")
        async with visitor.expect_download() as downloading:
            await link.click()
        download = await downloading.value
        assert download.suggested_filename == "statement 3월.pdf"
        assert Path(await download.path()).read_bytes() == pdf
        await chat.parts.connectors[("webchat", "site")].arrived_elsewhere(mailed, "email")  # read again
        await visitor.reload()
        await visitor.get_by_role("button", name="Chat with support").click()
        await expect(visitor.locator(".from-visitor", has_text="Here is my statement.")).to_have_count(1)
