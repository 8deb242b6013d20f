"""The user's settings (time zone, alert choices) are kept on their account and follow them to
another browser; what a browser kept on its own is only the fallback for a setting never chosen."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from helpline.console.users import Preferences

from .helpers import Desk
from .stack import TOKEN, Stack, running
from .test_browser import sign_in

pytestmark = pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="needs /usr/bin/chromium")


@pytest.fixture(autouse=True)
def telegram_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HL_TG_TOKEN", TOKEN)


async def _browser(stack: Stack, username: str, kept: str = "") -> Page:
    """A fresh browser profile (its own storage), signed in; `kept`: what it stored before."""
    return await sign_in(stack, username, timezone_id="Europe/Lisbon", init_script=kept)


async def test_zone_and_alert_choices_follow_the_user_to_another_browser(desk: Desk) -> None:
    async with running(desk) as stack:
        first = await _browser(stack, "amy")
        await expect(first.locator("#viewer-zone")).to_have_text("Europe/Lisbon")
        await first.click("#viewer-zone")
        async with first.expect_navigation():
            await first.select_option("#zone-select", "Asia/Seoul")
        await expect(first.locator("#viewer-zone")).to_have_text("Asia/Seoul")
        await first.click("#alerts-menu summary")
        await first.check("#alert-sound")
        await first.wait_for_function(  # kept on the account once the server answered
            "fetch('/api/v1/me').then((r) => r.json()).then((me) => me.preferences.alert_sound === true)"
        )
        amy = await desk.svc.users.get("amy")
        assert amy is not None and amy.preferences == Preferences(zone="Asia/Seoul", alert_sound=True)

        # another browser, which had kept other choices of its own: the account's win
        kept = (
            "localStorage.setItem('helpline.zone', 'America/New_York');localStorage.removeItem('helpline.alert.sound');"
        )
        second = await _browser(stack, "amy", kept)
        await expect(second.locator("#viewer-zone")).to_have_text("Asia/Seoul")
        await second.click("#alerts-menu summary")
        await expect(second.locator("#alert-sound")).to_be_checked()

        # a user who never chose: what this browser kept applies
        sue = await _browser(
            stack,
            "sue",
            "localStorage.setItem('helpline.zone', 'America/New_York');"
            "localStorage.setItem('helpline.alert.sound', '1');",
        )
        await expect(sue.locator("#viewer-zone")).to_have_text("America/New_York")
        await sue.click("#alerts-menu summary")
        await expect(sue.locator("#alert-sound")).to_be_checked()
        # and choosing the browser's own zone is a choice too: kept as "follow each browser"
        await sue.click("#viewer-zone")
        async with sue.expect_navigation():
            await sue.select_option("#zone-select", "")
        await expect(sue.locator("#viewer-zone")).to_have_text("Europe/Lisbon")
        chosen = await desk.svc.users.get("sue")
        assert chosen is not None and chosen.preferences.zone == ""


async def test_preferences_api_changes_only_what_is_sent_and_refuses_an_unknown_zone(desk: Desk) -> None:
    session, csrf = await desk.login("amy")
    headers = {"X-CSRF-Token": csrf}
    r = await session.patch("/api/v1/me/preferences", json={"zone": "Asia/Tokyo"}, headers=headers)
    assert r.status_code == 200 and r.json() == {"zone": "Asia/Tokyo", "alert_desktop": None, "alert_sound": None}
    r = await session.patch("/api/v1/me/preferences", json={"alert_desktop": True}, headers=headers)
    assert r.json() == {"zone": "Asia/Tokyo", "alert_desktop": True, "alert_sound": None}
    r = await session.patch("/api/v1/me/preferences", json={"zone": "Mars/Olympus"}, headers=headers)
    assert r.status_code == 422
    assert (await session.patch("/api/v1/me/preferences", json={"zone": "UTC"})).status_code == 403  # no CSRF token
    me = (await session.get("/api/v1/me")).json()
    assert me["preferences"] == {"zone": "Asia/Tokyo", "alert_desktop": True, "alert_sound": None}
    amy = await desk.svc.users.get("amy")
    assert amy is not None and amy.teams == ("support",)  # the rest of the account untouched
