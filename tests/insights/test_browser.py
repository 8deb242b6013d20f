"""The /reports page in a real browser (Debian chromium, never downloaded): the SVG charts render
with their accessible titles, and the filter form narrows the figures."""

from pathlib import Path

import pytest
import redis.asyncio as redis
from playwright.async_api import async_playwright

from helpline.connectors.emulation import serve
from tests.console.stack import ARGS, CHROMIUM
from tests.insights.apps import app_for, open_role, seeded

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs /usr/bin/chromium")


async def test_reports_page_draws_its_charts(r: redis.Redis) -> None:
    app = app_for(await seeded(r), open_role)
    async with serve(app) as url, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = await browser.new_page()
            await page.goto(f"{url}/reports?start=2026-11-02&end=2026-11-03")
            charts = page.locator("svg[role=img]")
            assert await charts.count() == 7
            for i in range(7):
                box = await charts.nth(i).bounding_box()
                assert box is not None and box["width"] > 100 and box["height"] > 40
            titles = await page.locator("svg > title").all_text_contents()
            assert "Conversations opened by weekday and hour" in titles
            # the heatmap has one cell per weekday x hour, three of them non-empty
            assert await page.locator("svg.chart-heatmap rect").count() == 7 * 24
            assert await page.locator("svg.chart-bar rect.bar").count() >= 2
            summary = page.locator("section[aria-labelledby=h-summary] tr", has_text="opened")
            assert "3" in (await summary.first.inner_text())
            await page.select_option("select[name=platform]", "telegram")
            await page.click("button[type=submit]")
            await page.wait_for_url("**platform=telegram**")
            summary = page.locator("section[aria-labelledby=h-summary] tr", has_text="opened")
            assert (await summary.first.inner_text()).split()[-1] == "1"
            assert await page.evaluate("document.scripts.length") == 0  # no JavaScript on the page
        finally:
            await browser.close()
