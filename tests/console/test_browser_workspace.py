"""The agent's workspace in a real browser (headless Chromium): wait clocks and queue order,
the two-mode composer, resolving with undo, collision warnings, attachments."""

from __future__ import annotations

import asyncio
import base64
import re
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis.asyncio as redis
from playwright.async_api import Page, expect

from helpline.routing.models import Presence, Status
from tests.audio import ogg_opus
from tests.factories import message, route_all

from .helpers import Desk, make_desk
from .stack import TOKEN, running
from .test_browser import conversation_id, sign_in

pytestmark = pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="needs /usr/bin/chromium")

TAKEOVER = {"name": "takeover", "match": {"keywords": ["hacked", "takeover"]}, "set": {"priority": "urgent"}}


@pytest.fixture(autouse=True)
def telegram_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HL_TG_TOKEN", TOKEN)


async def test_unassigned_puts_the_urgent_takeover_first_with_its_wait_clock(r: redis.Redis) -> None:
    desk = await make_desk(r, rules=[TAKEOVER], sla=[{"name": "default", "first_response_minutes": 60}])
    try:
        urgent = await desk.conversation("Account takeover! Someone changed my 2FA", thread="u", user="victim")
        for i in range(4):  # newer activity than the urgent one
            await desk.conversation(f"How do I change my email {i}?", thread=f"q{i}", user=f"asker{i}")
        async with running(desk) as stack:
            page = await sign_in(stack, "sue")
            await page.goto(stack.url + "/?view=unassigned")
            rows = page.locator(".row")
            await expect(rows).to_have_count(5)
            await expect(rows.first).to_have_attribute("data-id", urgent)
            await expect(rows.first.locator(".sla")).to_have_text(re.compile(r"^\d+s$"))
            await expect(page.locator("#sort-select")).to_have_value("priority")
            await page.goto(stack.url + "/?view=unassigned&sort=activity")  # sortable: latest first
            await expect(page.locator(".row").last).to_have_attribute("data-id", urgent)
            await page.goto(stack.url + "/?view=all")
            await expect(page.locator(".row").first).not_to_have_attribute("data-id", urgent)
            await expect(page.locator(".row .sla")).to_have_count(5)  # every row shows its wait
            await page.goto(f"{stack.url}/c/{urgent}")
            sla = page.locator("#head-wait .sla")
            await expect(sla).to_be_visible()
            assert "SLA due" in (await sla.get_attribute("title") or "")
    finally:
        for c in desk.clients:
            await c.aclose()


async def test_composer_modes_and_resolve_with_undo_that_holds_back_the_survey(desk: Desk) -> None:
    await desk.parts.assignments.set_presence("amy", Presence.ONLINE)
    async with running(desk) as stack:
        page = await sign_in(stack, "amy")
        await expect(page.locator("#live-status.on")).to_be_visible()  # before the news
        await stack.customer(811, "My deposit has not arrived")
        cid = await conversation_id(desk, 811)
        row = page.locator(f".row[data-id='{cid}']")
        await expect(row).to_be_visible()
        await page.keyboard.press("e")  # the inbox never resolves by keyboard
        await page.wait_for_timeout(500)
        await expect(row.locator(".status-open")).to_be_visible()

        await page.goto(f"{stack.url}/c/{cid}")
        composer = page.locator("#composer")
        await expect(composer).to_have_class(re.compile(r"\bmode-reply\b"))
        await page.keyboard.press("n")  # note mode, visibly different, focused
        await expect(composer).to_have_class(re.compile(r"\bmode-note\b"))
        await expect(page.locator("#send-btn")).to_have_text("Add note")
        await page.keyboard.type("Checked: the deposit is in the cold wallet sweep")
        await page.keyboard.press("Control+Enter")  # sends in the current mode: a note
        await expect(page.locator(".item-note", has_text="cold wallet sweep")).to_be_visible()
        await page.keyboard.press("Control+Shift+M")  # back to replying, from the keyboard
        await expect(composer).to_have_class(re.compile(r"\bmode-reply\b"))
        await expect(page.locator("#send-btn")).to_have_text("Send private reply")
        await page.keyboard.type("It will arrive within the hour.")
        await page.keyboard.press("Control+Enter")
        reply = page.locator(".item-reply", has_text="within the hour")
        await expect(reply.locator(".delivery")).to_have_class("delivery delivery-sent")
        assert [s["text"] for s in await stack.sent()] == ["It will arrive within the hour."]

        await page.keyboard.press("Escape")  # out of the text box
        await page.keyboard.press("e")
        await expect(page.locator("#undo-bar")).to_be_visible()
        await expect(page.locator("#undo-seconds")).to_have_text("4")  # counting down
        await page.click("#undo-btn")  # within the 5 seconds, with 4 of them left for a slow machine
        await expect(page.locator("#undo-bar")).to_be_hidden()
        await page.wait_for_timeout(5_500)  # past the 5 seconds: nothing happened
        conv = await desk.parts.store.get(cid)
        assert conv is not None and conv.status is Status.OPEN
        assert [s["text"] for s in await stack.sent()] == ["It will arrive within the hour."]  # no survey

        await page.keyboard.press("e")  # this time let it go through
        await expect(page.locator("#head-status")).to_have_text("resolved")
        deadline = time.monotonic() + 30
        while len(await stack.sent()) < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert len(await stack.sent()) == 2  # now the survey went out


async def test_two_agents_see_each_other_viewing_and_typing_and_a_late_reply_asks_to_confirm(desk: Desk) -> None:
    await desk.parts.assignments.set_presence("amy", Presence.ONLINE)
    async with running(desk) as stack:
        await stack.customer(821, "Is my account locked?")
        cid = await conversation_id(desk, 821)
        amy = await sign_in(stack, "amy")
        sue = await sign_in(stack, "sue")
        await amy.goto(f"{stack.url}/c/{cid}")
        await sue.goto(f"{stack.url}/c/{cid}")
        await expect(sue.locator("#live-status.on")).to_be_visible()
        await expect(amy.locator("#collision")).to_have_text("Sue Supervisor is viewing")
        await expect(sue.locator("#collision")).to_have_text("Amy Agent is viewing")

        await amy.fill("#reply-text", "")
        await amy.type("#reply-text", "Let me check")
        await expect(sue.locator("#collision")).to_have_text("Amy Agent is typing…")
        await expect(sue.locator("#collision")).to_have_class(re.compile("collision-typing"))
        await sue.type("#reply-text", "Checking")
        await expect(amy.locator("#collision")).to_have_text("Sue Supervisor is typing…")

        await sue.keyboard.press("Control+Enter")  # Sue answers first
        await expect(sue.locator(".item-reply", has_text="Checking")).to_be_visible()
        dialogs: list[str] = []

        async def decline(dialog: Any) -> None:
            dialogs.append(dialog.message)
            await dialog.dismiss()

        amy.once("dialog", decline)
        await amy.fill("#reply-text", "Let me check your account")
        await amy.keyboard.press("Control+Enter")
        await expect(amy.locator("#composer-status")).to_have_text("Not sent")
        assert dialogs == ["sue replied since you opened this conversation; send anyway?"]
        amy.once("dialog", lambda d: asyncio.ensure_future(d.accept()))
        await amy.keyboard.press("Control+Enter")
        late = amy.locator(".item-reply", has_text="your account")
        await expect(late.locator(".delivery")).to_have_class("delivery delivery-sent")
        assert [s["text"] for s in await stack.sent()] == ["Checking", "Let me check your account"]
        await amy.goto(stack.url + "/")  # Amy leaves: Sue no longer sees her
        await expect(sue.locator("#collision")).to_be_hidden()


async def canvas_image(page: Page, mime: str, color: str) -> bytes:
    """A real image of `mime`, drawn by the browser (40 x 30)."""
    data_url = await page.evaluate(
        """([mime, color]) => {
        const c = document.createElement("canvas"); c.width = 40; c.height = 30;
        const g = c.getContext("2d"); g.fillStyle = color; g.fillRect(0, 0, 40, 30);
        return c.toDataURL(mime); }""",
        [mime, color],
    )
    return base64.b64decode(data_url.split(",", 1)[1])


async def test_a_telegram_photo_is_a_thumbnail_a_voice_note_plays_and_the_agent_sends_an_image_back(desk: Desk) -> None:
    await desk.parts.assignments.set_presence("amy", Presence.ONLINE)
    async with running(desk) as stack:
        page = await sign_in(stack, "amy")
        jpeg = await canvas_image(page, "image/jpeg", "#d33")
        user = {"id": 831, "handle": "user831", "name": "Customer 831"}
        await stack.emulator.post(
            "/_emulator/customer-messages",
            json={"user": user, "kind": "direct", "photo": base64.b64encode(jpeg).decode(), "text": "this screen"},
        )
        await stack.emulator.post(
            "/_emulator/customer-messages",
            json={
                "user": user,
                "kind": "direct",
                "document": {
                    "data": base64.b64encode(b"%PDF-1.4 statement").decode(),
                    "file_name": "statement.pdf",
                    "mime_type": "application/pdf",
                },
            },
        )
        voice = ogg_opus(3)
        await stack.emulator.post(
            "/_emulator/customer-messages",
            json={"user": user, "kind": "direct", "voice": {"data": base64.b64encode(voice).decode(), "duration": 3}},
        )
        connector = desk.parts.connectors[("telegram", "support")]
        batch = await connector.fetch(None)  # as the poller reads the updates: the files are fetched
        await desk.parts.bus.ingest(batch.messages)
        assert (await stack.emulator.get("/_emulator/stats")).json()["file_downloads"] == 3
        cid = await conversation_id(desk, 831)

        await page.goto(f"{stack.url}/c/{cid}")
        thumb = page.locator(".item-message img.thumb")
        await expect(thumb).to_be_visible()
        await thumb.evaluate("img => img.decode()")  # loaded and decoded
        assert await thumb.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [40, 30]
        shown = await page.request.get(await thumb.evaluate("img => img.src"))
        assert shown.headers["content-type"] == "image/jpeg"
        assert shown.headers["content-disposition"].startswith("inline")
        assert await shown.body() == jpeg
        pdf = page.locator(".item-message .attachments a", has_text="statement.pdf")
        download = await page.request.get(await pdf.evaluate("a => a.href"))
        assert download.headers["content-type"] == "application/octet-stream"
        assert download.headers["content-disposition"].startswith("attachment")
        player = page.locator(".item-message audio[controls]")  # the voice note plays (CSP: same origin)
        duration = await player.evaluate("""a => new Promise((ok, bad) => {
            a.onloadedmetadata = () => ok(a.duration);
            a.onerror = () => bad(String(a.error && a.error.code));
            a.load(); })""")
        assert 2.9 < duration < 3.1
        heard = await page.request.get(await player.evaluate("a => a.src"))
        assert heard.headers["content-type"] == "audio/ogg" and await heard.body() == voice

        png = await canvas_image(page, "image/png", "#3a3")
        await page.set_input_files("#reply-file", files=[{"name": "where.png", "mimeType": "image/png", "buffer": png}])
        await page.fill("#reply-text", "Tap here")
        await page.click("#send-btn")
        reply = page.locator(".item-reply", has_text="Tap here")
        await expect(reply.locator("img.thumb")).to_be_visible()
        await expect(reply.locator(".delivery")).to_have_class("delivery delivery-sent")
        sent = await stack.sent()
        assert [(s.get("photo_bytes"), s["text"]) for s in sent] == [(len(png), ""), (None, "Tap here")]

        svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
        await page.set_input_files("#reply-file", files=[{"name": "x.svg", "mimeType": "image/svg+xml", "buffer": svg}])
        await page.fill("#reply-text", "an svg")
        await page.click("#send-btn")
        await expect(page.locator("#toast")).to_contain_text("telegram replies take image/jpeg, image/png, image/webp")


async def test_bulk_resolve_of_three_unread_count_in_the_title_and_paging_kept_by_live_updates(desk: Desk) -> None:
    await desk.parts.bus.ingest([message(f"old question {i}", thread=f"old{i}", user=f"o{i}") for i in range(52)])
    await route_all(desk.parts, desk.router, rounds=20)
    async with running(desk) as stack:
        sue = await sign_in(stack, "sue")
        await sue.goto(stack.url + "/?view=all")
        await expect(sue.locator(".row")).to_have_count(50)
        await expect(sue).to_have_title("(50) Inbox · Helpline")  # all unread for her
        await sue.click("a.more")  # page 2: the two oldest
        await expect(sue.locator(".row")).to_have_count(2)
        await expect(sue.locator("#live-status.on")).to_be_visible()
        async with sue.expect_response(lambda r: "/api/v1/conversations?" in r.url) as refreshed:
            await stack.customer(841, "a new question arrives")  # a live update
        assert "cursor=" in (await refreshed.value).url
        await sue.wait_for_timeout(300)
        await expect(sue.locator(".row")).to_have_count(2)  # still page 2
        await expect(sue.locator(".row", has_text="a new question")).to_have_count(0)

        await sue.goto(stack.url + "/?view=all")
        rows = sue.locator(".row")
        ids = [await rows.nth(i).get_attribute("data-id") for i in range(3)]
        for i in range(2):
            await rows.nth(i).locator(".row-check").check()
        await sue.keyboard.press("j")
        await sue.keyboard.press("j")
        await sue.keyboard.press("x")  # the third by keyboard
        await expect(sue.locator("#bulk-count")).to_have_text("3 selected")
        await sue.click("[data-bulk=resolve]")
        await expect(sue.locator("#toast")).to_have_text("3 done")
        await expect(sue.locator("#bulk-bar")).to_be_hidden()
        for cid in ids:
            await expect(sue.locator(f".row[data-id='{cid}']")).to_have_count(0)
            conv = await desk.parts.store.get(str(cid))
            assert conv is not None and conv.status is Status.RESOLVED


async def test_times_are_in_the_viewers_zone_and_say_which(desk: Desk) -> None:
    cid = await desk.conversation("what time is it there?")
    conv = await desk.parts.store.get(cid)
    assert conv is not None
    # The message shows when it was received, the facts when the conversation was made: a few
    # milliseconds apart, so on either side of a minute's turn now and then.
    received = (await desk.parts.store.messages(cid))[0].received_at

    def clock(at: datetime, zone: str) -> str:
        return at.astimezone(ZoneInfo(zone)).strftime("%H:%M")

    async with running(desk) as stack:
        page = await sign_in(stack, "sue", timezone_id="Asia/Seoul")
        await page.goto(f"{stack.url}/c/{cid}")
        await expect(page.locator("#viewer-zone")).to_have_text("Asia/Seoul")
        await expect(page.locator(".facts time").first).to_have_text(clock(conv.created_at, "Asia/Seoul"))
        await expect(page.locator(".item-message time").first).to_have_text(clock(received, "Asia/Seoul"))
        await page.click("#viewer-zone")  # a zone of one's own overrides the browser's, kept on the account
        await page.select_option("#zone-select", "America/New_York")
        await expect(page.locator("#viewer-zone")).to_have_text("America/New_York")
        await expect(page.locator(".item-message time").first).to_have_text(clock(received, "America/New_York"))
        await page.goto(stack.url + "/")
        await expect(page.locator("#viewer-zone")).to_have_text("America/New_York")
        await page.click("#viewer-zone")
        await page.select_option("#zone-select", "")  # back to the browser's
        await expect(page.locator("#viewer-zone")).to_have_text("Asia/Seoul")
        await page.context.close()


async def test_labels_added_with_suggestions_and_removed_and_a_snooze_in_the_viewers_zone(desk: Desk) -> None:
    other = await desk.conversation("about my refund", thread="r", user="r1")
    api = desk.client()
    headers = await desk.token("sue")
    assert (
        await api.post(f"/api/v1/conversations/{other}/labels", json={"add": ["refund"]}, headers=headers)
    ).status_code == 200
    cid = await desk.conversation("where is my deposit?", thread="d", user="d1")
    async with running(desk) as stack:
        page = await sign_in(stack, "sue", timezone_id="Asia/Seoul")
        await page.goto(f"{stack.url}/c/{cid}")
        suggestions = page.locator("#label-suggestions option")
        assert await suggestions.evaluate_all("os => os.map(o => o.value)") == ["refund"]
        await page.fill("#label-add input[name=add]", "refund vip")
        await page.click("#label-add button")
        await expect(page.locator("#labels .chip")).to_have_text(["refund×", "vip×"])
        await page.click("[aria-label='Remove label refund']")
        await expect(page.locator("#labels .chip")).to_have_text(["vip×"])
        conv = await desk.parts.store.get(cid)
        assert conv is not None and list(conv.labels) == ["vip"]

        await page.fill("#snooze-form input[name=until]", "2031-03-04T09:30")  # 09:30 in Seoul
        await page.click("#snooze-form button")
        await expect(page.locator("#head-status")).to_have_text("pending")
        await expect(page.locator("#snoozed-until time")).to_have_attribute("datetime", "2031-03-04T00:30:00+00:00")
        await expect(page.locator("#snoozed-until time")).to_have_text("Mar 04 09:30")
        conv = await desk.parts.store.get(cid)
        assert conv is not None and conv.status is Status.PENDING
        await page.context.close()


async def test_routing_events_and_the_persons_other_conversations_are_collapsed(desk: Desk) -> None:
    await desk.parts.assignments.set_presence("sue", Presence.ONLINE)
    await desk.parts.bus.ingest(
        [message(f"Earlier question {i}: my deposit is late", thread="old", user="u9") for i in range(30)]
    )
    await route_all(desk.parts, desk.router)
    new = await desk.conversation("New question about staking rewards", thread="new", user="u9")
    async with running(desk) as stack:
        page = await sign_in(stack, "sue")
        await page.goto(f"{stack.url}/c/{new}")
        await expect(page.locator("#live-status.on")).to_be_visible()
        other = page.locator("#timeline > .item-other")  # 30 messages in one closed line
        await expect(other).to_have_count(1)
        await expect(other.locator("summary")).to_contain_text("30 messages, 0 replies")
        await expect(other.locator("summary")).to_contain_text("Earlier question 0")
        await expect(other.locator(".item-message").first).to_be_hidden()
        box = await other.bounding_box()
        assert box is not None and box["height"] < 60
        await other.locator("summary").click()
        await expect(other.locator(".item-message")).to_have_count(30)
        await expect(other.locator(".item-message").first).to_be_visible()

        await page.click("text=Assign to me")  # more routing events on the current conversation
        await expect(page.locator("#fact-assignee")).to_have_text("sue")
        await expect(page.locator("#live-status.on")).to_be_visible()
        run = page.locator("#timeline > .item-events").last
        await expect(run.locator("summary")).to_contain_text(re.compile(r"\d+ events"))
        await expect(run.locator(".item-event").first).to_be_hidden()
        await run.locator("summary").click()
        await expect(run.locator(".item-event").first).to_be_visible()
        opened = await run.get_attribute("data-key")

        await page.keyboard.press("n")  # a note: the live update lays the timeline out again
        await page.keyboard.type("Asked the staking team")
        await page.keyboard.press("Control+Enter")
        await expect(page.locator("#timeline > .item-note", has_text="staking team")).to_be_visible()
        await expect(page.locator(f"#timeline > .item-events[data-key='{opened}'] .item-event").first).to_be_visible()
        await expect(page.locator("#timeline > .item-other .item-message").first).to_be_visible()  # still open


async def test_inbox_filters_by_label_agent_and_language_and_each_count_is_its_lists_length(desk: Desk) -> None:
    english = await desk.conversation("My withdrawal is stuck", thread="en", user="e1", language="en")
    korean = await desk.conversation("출금이 안 돼요", thread="ko", user="k1", language="ko")
    japanese = await desk.conversation("入金がまだです", thread="ja", user="j1", language="ja")
    later = await desk.conversation("Please close my account", thread="p", user="p1", language="en")
    await desk.online("amy")  # after routing, so the router gave her none of them
    api = desk.client()
    headers = await desk.token("sue")
    for path, body in (
        (f"{korean}/labels", {"add": ["vip"]}),
        (f"{japanese}/assign", {"agent_id": "amy"}),
        (f"{later}/pending", {}),
    ):
        assert (await api.post(f"/api/v1/conversations/{path}", json=body, headers=headers)).status_code == 200
    async with running(desk) as stack:
        sue = await sign_in(stack, "sue")
        await sue.goto(stack.url + "/?view=all")  # open ones: the pending one is neither listed nor counted
        rows = sue.locator(".row")
        await expect(rows).to_have_count(3)
        await expect(sue.locator("[data-count=all]")).to_have_text("3")

        await sue.select_option("select[name=language]", "ko")
        await sue.click("#filters button[type=submit]")
        await expect(rows).to_have_count(1)
        await expect(rows.first).to_have_attribute("data-id", korean)
        await expect(sue.locator("[data-count=all]")).to_have_text("1")  # counts follow the filters
        await sue.click(".view[data-view=mine]")  # a view keeps the filters
        await sue.wait_for_url("**view=mine**")
        await expect(sue.locator("select[name=language]")).to_have_value("ko")
        await expect(sue.locator("[data-count=mine]")).to_have_text(str(await rows.count()))

        await sue.goto(stack.url + "/?view=all")
        assert await sue.locator("#known-labels option").evaluate_all("os => os.map(o => o.value)") == ["vip"]
        await sue.fill("input[name=label]", "vip")
        await sue.click("#filters button[type=submit]")
        await expect(rows).to_have_count(1)
        await expect(rows.first).to_have_attribute("data-id", korean)

        await sue.goto(stack.url + "/?view=all")
        await sue.select_option("select[name=agent]", "amy")
        await sue.click("#filters button[type=submit]")
        await expect(rows).to_have_count(1)
        await expect(rows.first).to_have_attribute("data-id", japanese)
        await expect(sue.locator("[data-count=all]")).to_have_text("1")

        await sue.goto(stack.url + "/?view=all&status=")  # any status: the pending one too
        await expect(rows).to_have_count(4)
        for view in ("all", "unassigned", "mine", "team", "escalated", "failed"):
            await sue.goto(stack.url + f"/?view={view}&status=")
            await expect(sue.locator(f"[data-count={view}]")).to_have_text(str(await rows.count()))
        await expect(sue.locator("#live-status.on")).to_be_visible()
        await sue.goto(stack.url + "/?view=all")
        await expect(sue.locator("#live-status.on")).to_be_visible()
        assert (await api.post(f"/api/v1/conversations/{english}/pending", json={}, headers=headers)).status_code == 200
        await expect(rows).to_have_count(2)  # the live update: list and count together
        await expect(sue.locator("[data-count=all]")).to_have_text("2")


RECORD_ALERTS = """
window.__notes = [];
window.__beeps = 0;
const RealNotification = window.Notification;
window.Notification = class extends RealNotification {
  constructor(title, options) { super(title, options); window.__notes.push({ title, body: options.body }); }
};
const createOscillator = AudioContext.prototype.createOscillator;
AudioContext.prototype.createOscillator = function () { window.__beeps += 1; return createOscillator.call(this); };
"""


async def test_opt_in_desktop_notification_and_sound_when_assigned_or_escalated(desk: Desk) -> None:
    await desk.online("amy")
    before = await desk.conversation("an old question", thread="old", user="o1")
    api = desk.client()
    headers = await desk.token("sue")

    async def post(path: str, body: dict[str, Any]) -> None:
        assert (await api.post(f"/api/v1/conversations/{path}", json=body, headers=headers)).status_code == 200

    if (await desk.parts.store.get(before)).assignee != "amy":  # type: ignore[union-attr]
        await post(f"{before}/assign", {"agent_id": "amy"})
    async with running(desk) as stack:
        page = await sign_in(stack, "amy", permissions=["notifications"], init_script=RECORD_ALERTS)
        await page.click("#alerts-menu summary")
        await page.check("#alert-desktop")
        await page.check("#alert-sound")
        assert await page.evaluate("window.__beeps") == 1  # the sound, heard when chosen
        await expect(page.locator("#live-status.on")).to_be_visible()

        await post(f"{before}/notes", {"text": "still hers"})  # already hers when the page opened: no alert
        await page.wait_for_timeout(1_000)
        assert await page.evaluate("window.__notes") == []

        await desk.parts.assignments.set_presence("amy", Presence.OFFLINE)  # the router gives it no one
        fresh = await desk.conversation("a new question", thread="new", user="n1")
        await desk.online("amy")
        await post(f"{fresh}/assign", {"agent_id": "amy"})
        await expect(page.locator("#toast")).to_contain_text("Assigned to you")
        await page.wait_for_function("window.__notes.length >= 1")
        notes = await page.evaluate("window.__notes")
        assert notes[0] == {"title": "Helpline · Assigned to you", "body": f"Null conversation {fresh} · normal"}
        assert await page.evaluate("window.__beeps") == 2

        await post(f"{fresh}/escalate", {"reason": "account takeover"})
        await page.wait_for_function("window.__notes.length >= 2")
        assert (await page.evaluate("window.__notes"))[1]["title"] == "Helpline · Escalated"
        assert await page.evaluate("window.__beeps") == 3

        await page.uncheck("#alert-desktop")  # off again: a toast only
        await page.uncheck("#alert-sound")
        other = await desk.conversation("one more", thread="more", user="m1")
        await post(f"{other}/escalate", {"reason": "urgent"})
        await expect(page.locator("#toast")).to_contain_text(f"Escalated: Null conversation {other}")
        assert len(await page.evaluate("window.__notes")) == 2 and await page.evaluate("window.__beeps") == 3
        await page.context.close()


async def test_a_supervisor_writes_canned_responses_per_language_and_an_agent_may_not(desk: Desk) -> None:
    async with running(desk) as stack:
        sue = await sign_in(stack, "sue")
        await sue.click(".topnav >> text=Canned")
        await sue.wait_for_url("**/canned")
        await expect(sue.locator("#canned-empty")).to_be_visible()
        new = sue.locator("#canned-new")
        await new.locator("input[name=title]").fill("Deposit arrives")
        await new.locator("button").click()  # no text in any language: refused, what was typed kept
        await expect(sue.locator("#canned-error")).to_contain_text("texts")
        await expect(sue.locator("#canned-new input[name=title]")).to_have_value("Deposit arrives")
        english = "Hi {{contact.name}}, deposits arrive within 30 minutes."
        korean = "{{contact.name}}님, 입금은 30분 안에 반영됩니다."
        await sue.locator("#canned-new textarea[name=text_en]").fill(english)
        await sue.locator("#canned-new textarea[name=text_ko]").fill(korean)
        await sue.locator("#canned-new button").click()
        saved = (await desk.svc.canned.list())[0]
        assert (saved.title, saved.texts) == ("Deposit arrives", {"en": english, "ko": korean})
        edit = sue.locator(f"#canned-edit-{saved.id}")
        await expect(edit.locator("textarea[name=text_ko]")).to_have_value(korean)
        await edit.locator("textarea[name=text_ja]").fill("{{contact.name}}様、入金は30分以内に反映されます。")
        await edit.locator("textarea[name=text_ko]").fill("")  # an emptied variant is removed
        await edit.locator("button").click()
        await expect(sue.locator(f"#canned-edit-{saved.id} textarea[name=text_ja]")).to_have_value(
            "{{contact.name}}様、入金は30分以内に反映されます。"
        )
        again = await desk.svc.canned.get(saved.id)
        assert again is not None and set(again.texts) == {"en", "ja"}
        await sue.click("[aria-label='Delete Deposit arrives']")
        await expect(sue.locator("#canned-empty")).to_be_visible()
        assert await desk.svc.canned.list() == []

        amy = await sign_in(stack, "amy")
        await expect(amy.locator(".topnav a", has_text="Canned")).to_have_count(0)
        response = await amy.goto(stack.url + "/canned")
        assert response is not None and response.status == 403
