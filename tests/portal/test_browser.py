"""The help center in a real browser (headless Chromium) against uvicorn: a visitor searches in
Korean, sees suggestions as they type, submits the form and opens an article."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from fastapi import FastAPI
from playwright.async_api import async_playwright, expect

from helpline.connectors.emulation import serve
from tests.console.stack import ARGS, CHROMIUM

SCREENSHOTS = Path(os.environ.get("HELPLINE_SCREENSHOTS") or tempfile.mkdtemp(prefix="helpline-screenshots-"))

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs /usr/bin/chromium")


async def test_visitor_searches_in_korean_and_opens_an_article(app: FastAPI) -> None:
    async with serve(app) as url, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = await (await browser.new_context(viewport={"width": 1280, "height": 800})).new_page()
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" and "404" not in m.text else None)
            page.on("response", lambda r: errors.append(r.url) if r.status >= 400 and "favicon" not in r.url else None)
            await page.goto(url + "/help/ko/")
            await expect(page.locator("h1")).to_have_text("전체 도움말")
            await page.locator("#q").press_sequentially("출금이 늦어져요")
            suggestion = page.locator("#suggestions a", has_text="늦어지는 이유")
            await expect(suggestion.first).to_be_visible()
            await page.locator("#q").press("Enter")  # no suggestion chosen: the form is submitted
            await page.wait_for_url("**/help/ko/search?q=*")
            await expect(page.locator("h1")).to_contain_text("출금이 늦어져요")
            await page.locator(".results a", has_text="늦어지는 이유").click()
            await page.wait_for_url("**/help/ko/withdrawal-pending")
            await expect(page.locator("article h1")).to_contain_text("출금")
            await expect(page.locator(".crumb")).to_have_text("출금")
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(SCREENSHOTS / "help-center.png"))
            await page.get_by_role("button", name="네").click()
            await expect(page.locator("#feedback")).to_contain_text("감사합니다")
            await page.get_by_role("link", name="日本語").click()  # the switcher keeps the article
            await page.wait_for_url("**/help/ja/withdrawal-pending")
            assert errors == []  # nothing refused by the CSP, no script error
            phone = await (await browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)).new_page()
            await phone.goto(url + "/help/ko/withdrawal-pending")
            await phone.screenshot(path=str(SCREENSHOTS / "help-center-phone.png"))
        finally:
            await browser.close()


async def test_search_works_without_javascript(app: FastAPI) -> None:
    async with serve(app) as url, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = await (await browser.new_context(java_script_enabled=False)).new_page()
            await page.goto(url + "/help/ko/")
            await page.fill("#q", "2fa 재설정")
            await page.click("form.search button")
            await page.wait_for_url("**/help/ko/search?q=*")
            await expect(page.locator(".results a").first).to_have_attribute("href", "/help/ko/2fa-reset")
        finally:
            await browser.close()
