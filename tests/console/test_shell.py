"""One product: the inbox, reports and announcements pages share the layout and navigation, and
each role is shown only pages it may open (never a link its API would refuse)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis

from helpline.console.roles import PAGES, Role
from helpline.console.security import CSP

from .helpers import USERS, Desk, make_desk

SHOWN = {
    "amy": ["Inbox", "API tokens"],
    "sue": ["Inbox", "Reports", "Examples", "Canned", "Announcements", "API tokens"],
    "meg": ["Inbox", "Announcements", "API tokens"],
    "root": ["Inbox", "Reports", "Examples", "Canned", "Announcements", "Users", "API tokens"],
}


def nav_links(html: str) -> dict[str, str]:
    nav = re.search(r'<nav class="topnav"[^>]*>(.*?)</nav>', html, re.S)
    assert nav, html[:500]
    return {label: path for path, label in re.findall(r'<a href="([^"]+)"[^>]*>([^<]+)</a>', nav.group(1))}


@pytest.mark.parametrize("username", sorted(SHOWN))
async def test_every_page_shows_the_same_nav_and_only_pages_the_role_may_open(desk: Desk, username: str) -> None:
    session, _ = await desk.login(username)
    home = await session.get("/")
    links = nav_links(home.text)
    assert list(links) == SHOWN[username]
    for label, path, _ in PAGES:
        page = await session.get(path)
        if label in links:  # every link shown opens, inside the same layout and the same nav
            assert page.status_code == 200, (username, path, page.text[:200])
            assert nav_links(page.text) == links
            assert '<link rel="stylesheet" href="/static/console.css">' in page.text
            assert USERS[username]["name"] in page.text and 'action="/logout"' in page.text
            assert re.search(rf'<a href="{path}" class="active" aria-current="page">', page.text)
            assert page.headers["content-security-policy"] == CSP
            assert "<script>" not in page.text and " onclick=" not in page.text and " style=" not in page.text
        elif path in ("/reports", "/examples", "/canned", "/users"):  # hidden: its API refuses the role
            assert page.status_code == 403, (username, path)
        else:  # agents may read announcements (the API's view role), but it is not their page
            assert (username, path, page.status_code) == ("amy", "/announcements", 200)
            assert 'id="compose-form"' not in page.text and 'data-may-approve=""' in page.text


async def test_presence_toggle_only_for_agents_in_the_roster(desk: Desk) -> None:
    await desk.online("amy", "sue")
    for username, has_toggle in (("amy", True), ("sue", True), ("meg", False), ("root", False)):
        session, _ = await desk.login(username)
        for path in ("/", *(p for label, p, roles in PAGES if USERS[username]["role"] in roles and p != "/")):
            html = (await session.get(path)).text
            assert ('id="presence-select"' in html) is has_toggle, (username, path)


@pytest.fixture
async def announcing_desk(r: redis.Redis) -> AsyncIterator[Desk]:
    """The desk with an X account to announce from (a target must name a configured account)."""
    desk = await make_desk(r, accounts=[{"platform": "null", "name": "main"}, {"platform": "x", "name": "main"}])
    yield desk
    for c in desk.clients:
        await c.aclose()


async def test_announcements_page_offers_what_the_role_may_do(announcing_desk: Desk) -> None:
    desk = announcing_desk
    meg, csrf = await desk.login("meg")
    page = (await meg.get("/announcements")).text
    assert 'id="compose-form"' in page and 'data-may-compose="yes"' in page and 'data-may-approve=""' in page
    draft = {"text": "Deposits pause on Saturday.", "targets": [{"kind": "x_timeline", "account": "main"}]}
    assert (await meg.post("/api/announcements", json=draft)).status_code == 403  # CSRF still required
    created = await meg.post("/api/announcements", json=draft, headers={"X-CSRF-Token": csrf})
    assert created.status_code == 201, created.text
    assert [a["id"] for a in (await meg.get("/api/announcements")).json()["announcements"]] == [created.json()["id"]]
    sue, _ = await desk.login("sue")
    page = (await sue.get("/announcements")).text
    assert 'id="compose-form"' not in page and 'data-may-approve="yes"' in page
    assert (await sue.get("/api/announcements")).status_code == 200
    amy, _ = await desk.login("amy")
    assert (await amy.get("/api/announcements")).status_code == 200  # agents still read, without a nav link


def test_nav_roles_are_the_roles_the_routes_accept() -> None:
    from helpline.console.auth import role_names

    reports = {r for r in Role if "supervisor" in role_names(r)}
    assert dict((label, roles) for label, _, roles in PAGES)["Reports"] == reports
    assert all("reader" in role_names(r) for r in Role)
