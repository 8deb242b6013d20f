"""The web chat in a real browser: Chromium, the widget opened on the stand-in site, the agent signed in
to the console."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from playwright.async_api import Browser, Page, async_playwright, expect

from tests.console.stack import ARGS, CHROMIUM

from .stack import PASSWORD, Chat, thread_of


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield b
        finally:
            await b.close()


async def open_chat(browser: Browser, url: str, width: int = 1280, height: int = 800) -> Page:
    page = await (await browser.new_context(viewport={"width": width, "height": height})).new_page()
    await page.goto(url)
    await page.get_by_role("button", name="Chat with support").click()
    await expect(page.get_by_role("dialog")).to_be_visible()
    return page


async def say(page: Page, text: str) -> None:
    box = page.get_by_role("textbox", name="Type your message")
    await box.fill(text)
    await box.press("Enter")


async def conversation_of(chat: Chat, page: Page) -> str:
    """The conversation the widget's chat became (the chat id is the thread key)."""
    stored = await page.evaluate("JSON.parse(localStorage.getItem(Object.keys(localStorage)[0])).chat")
    return await thread_of(chat, stored)


async def signed_in_agent(browser: Browser, chat: Chat, username: str = "amy") -> Page:
    """The agent's console in its own browser profile, on the inbox."""
    agent = await (await browser.new_context(viewport={"width": 1280, "height": 800})).new_page()
    await agent.goto(chat.url + "/login")
    await agent.fill("input[name=username]", username)
    await agent.fill("input[name=password]", PASSWORD)
    await agent.click("button[type=submit]")
    await agent.wait_for_url(chat.url + "/")
    return agent
