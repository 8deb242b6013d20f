"""Linked contacts show only the identities the viewer may see: linking never reveals another
team's customer to an agent who gets 404 for that contact directly."""

from __future__ import annotations

from .helpers import Desk


async def test_linked_identities_are_filtered_by_what_the_viewer_may_see(desk: Desk) -> None:
    support = await desk.conversation("withdrawal stuck", thread="tg", user="alice")  # team support
    vip = await desk.conversation("vip here", thread="vip", user="carol")  # team vip
    await desk.svc.links.link("null:main:alice", "null:main:carol")  # a supervisor linked them
    c = desk.client()
    bob = await desk.token("bob")  # team vip
    assert (await c.get("/api/v1/contacts/null:main:alice", headers=bob)).status_code == 404
    contact = (await c.get("/api/v1/contacts/null:main:carol", headers=bob)).json()
    assert contact["linked"] == [] and "alice" not in str(contact)
    detail = await c.get(f"/api/v1/conversations/{vip}", headers=bob)
    assert detail.status_code == 200 and "alice" not in detail.text
    page = await (await desk.login("bob"))[0].get(f"/c/{vip}")
    assert page.status_code == 200 and "alice" not in page.text
    sue = await desk.token("sue")  # a supervisor sees both
    assert [x["id"] for x in (await c.get("/api/v1/contacts/null:main:carol", headers=sue)).json()["linked"]] == [
        "null:main:alice"
    ]
    amy = await desk.token("amy")  # team support sees alice, not carol
    assert (await c.get("/api/v1/contacts/null:main:alice", headers=amy)).json()["linked"] == []
    assert "carol" not in (await c.get(f"/api/v1/conversations/{support}", headers=amy)).text
