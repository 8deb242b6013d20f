"""Linking the same person's contacts from a conversation's side panel (headless Chromium): search
among the contacts the viewer may see, link, unlink; another team's customer is never found nor
linkable."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import expect

from helpline.console.linking import matches
from helpline.routing.models import Contact

from .helpers import Desk
from .stack import TOKEN, running
from .test_browser import sign_in

pytestmark = pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="needs /usr/bin/chromium")


@pytest.fixture(autouse=True)
def telegram_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HL_TG_TOKEN", TOKEN)


def test_a_query_matches_name_handle_or_id() -> None:
    c = Contact(id="k-7", platform="x", account="main", user_id="7", handle="@Mina_K", display_name="김민지 Mina")
    assert all(matches(c, q) for q in ("mina", "@mina_k", "MINA_K", "민지", "k-7"))
    assert not any(matches(c, q) for q in ("", "  ", "@", "minaa", "k-"))


async def test_an_agent_links_and_unlinks_the_same_person_from_the_side_panel(desk: Desk) -> None:
    here = await desk.conversation("my withdrawal is stuck", thread="here", user="mina")
    there = await desk.conversation("same problem, writing from my other account", thread="there", user="mina_alt")
    hidden = await desk.conversation("vip: my deposit", thread="vip", user="mina_vip")  # team vip: not amy's
    contact = {cid: (await desk.parts.store.get(cid)).contact_id for cid in (here, there, hidden)}  # type: ignore[union-attr]
    async with running(desk) as stack:
        amy = await sign_in(stack, "amy")
        await amy.goto(f"{stack.url}/c/{here}")
        await expect(amy.locator("#linked-contacts")).to_have_count(0)
        await amy.click("#link-contact summary")
        await amy.fill("#link-q", "mina")
        await amy.click("#link-contact button[type=submit]")
        matches_ = amy.locator("#link-matches li")
        await expect(matches_).to_have_count(1)  # herself and the vip team's customer are not offered
        await expect(matches_).to_have_attribute("data-contact", contact[there])
        await amy.click("[aria-label='Link MINA_ALT (Null)']")
        await amy.wait_for_url(f"**/c/{here}")
        await expect(amy.locator("#linked-contacts li")).to_have_attribute("data-contact", contact[there])
        assert await desk.svc.links.group(contact[here]) == [contact[here], contact[there]]
        await expect(amy.locator(f"aside a[href='/c/{there}']")).to_be_visible()  # her other conversation, in the panel

        # a contact the viewer may not see is refused (as not found), whatever the form says
        status = await amy.evaluate(
            """async ([cid, other]) => {
            const csrf = document.querySelector('meta[name=csrf-token]').content;
            const body = new URLSearchParams({csrf_token: csrf, other});
            return (await fetch(`/c/${cid}/do/link`, {method: 'POST', body})).status; }""",
            [here, contact[hidden]],
        )
        assert status == 404
        assert contact[hidden] not in await desk.svc.links.group(contact[here])

        await amy.click("[aria-label='Unlink MINA_ALT']")
        await amy.wait_for_url(f"**/c/{here}")
        await expect(amy.locator("#linked-contacts")).to_have_count(0)
        assert await desk.svc.links.group(contact[here]) == [contact[here]]

        meg = await sign_in(stack, "meg")  # marketing reads public conversations, never links
        await meg.goto(f"{stack.url}/c/{here}")
        await expect(meg.locator("#link-contact")).to_have_count(0)
