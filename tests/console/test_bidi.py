"""Bidi controls in customer names cannot reverse the text around them: names lose the
controls, and every piece of user text on a page is isolated (dir="auto" / <bdi>)."""

from __future__ import annotations

import re

from helpline.routing.models import Author, Contact

from .helpers import Desk

RLO = "\u202e"  # RIGHT-TO-LEFT OVERRIDE: "evil\u202egnp.exe" shows as "evilexe.png"


def test_names_lose_bidi_controls() -> None:
    author = Author(user_id="1", handle=f"@a{RLO}b", display_name=f"Kim{RLO}\u2066 Lee\u2069\u202c")
    assert (author.handle, author.display_name) == ("@ab", "Kim Lee")
    contact = Contact(id="x", platform="null", account="main", user_id="1", display_name=f"{RLO}nimda")
    assert contact.display_name == "nimda"
    assert Author(user_id="1", display_name="김민지 مرحبا").display_name == "김민지 مرحبا"  # scripts stay


async def test_pages_isolate_user_text(desk: Desk) -> None:
    cid = await desk.conversation(f"refund {RLO}txt.exe", thread="b1", user="bidi")
    await desk.parts.client.hset("hl:contact:null:main:bidi", "display_name", f"Mallory{RLO}")  # type: ignore[misc]
    session, _ = await desk.login("amy")
    for path in ("/?view=all", f"/c/{cid}"):
        page = (await session.get(path)).text
        assert f"Mallory{RLO}" not in page and "Mallory" in page
        for cls in ("row-name", "row-preview") if path.startswith("/?") else ("bubble-text", "bubble-author"):
            assert re.search(rf'class="{cls}" dir="auto"', page), (path, cls)
    api = await session.get(f"/api/v1/conversations/{cid}")
    assert RLO not in api.json()["summary"]["contact_name"]
    assert api.json()["timeline"][0]["text"] == f"refund {RLO}txt.exe"  # the message itself is kept as written
