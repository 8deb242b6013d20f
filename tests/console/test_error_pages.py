"""What a person's browser gets instead of raw JSON errors: the login for a signed-out page, an
HTML page when forbidden or lost, and an icon."""

from __future__ import annotations

from .helpers import Desk

HTML = {"Accept": "text/html,application/xhtml+xml"}


async def test_a_signed_out_page_goes_to_the_login_and_comes_back(desk: Desk) -> None:
    c = desk.client()
    r = await c.get("/reports?days=7", headers=HTML)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/reports%3Fdays%3D7"
    api = await c.get("/api/v1/conversations", headers=HTML)  # the API keeps answering JSON
    assert api.status_code == 401 and api.json()["detail"] == "not logged in"
    plain = await c.get("/reports")  # a script without Accept: text/html keeps the JSON answer
    assert plain.status_code == 401


async def test_forbidden_and_missing_pages_are_html_in_the_layout(desk: Desk) -> None:
    meg, _ = await desk.login("meg")
    r = await meg.get("/reports", headers=HTML)
    assert r.status_code == 403 and r.headers["content-type"].startswith("text/html")
    assert 'class="error-message"' in r.text and "this needs the role" in r.text
    assert 'class="topbar"' in r.text  # signed in: the usual navigation
    lost = await meg.get("/no/such/page", headers=HTML)
    assert lost.status_code == 404 and "There is no such page." in lost.text
    anonymous = await desk.client().get("/no/such/page", headers=HTML)
    assert anonymous.status_code == 404 and 'class="topbar"' not in anonymous.text


async def test_favicon(desk: Desk) -> None:
    r = await desk.client().get("/favicon.ico")
    assert r.status_code == 200 and r.headers["content-type"] == "image/x-icon"
    assert r.content[:4] == b"\x00\x00\x01\x00"  # an ICO file
