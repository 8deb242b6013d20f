"""Bulk actions: each conversation with the checks of the single action."""

from __future__ import annotations

from helpline.routing.models import Status

from .helpers import Desk


async def test_bulk_applies_the_single_checks_to_each_conversation(desk: Desk) -> None:
    mine = await desk.conversation("hello", thread="a", user="ua")
    vip = await desk.conversation("vip help", thread="b", user="ub")  # another team: not amy's
    c = desk.client()
    amy = await desk.token("amy")
    out = (
        await c.post(
            "/api/v1/conversations/bulk",
            json={"ids": [mine, vip, "9-9"], "action": "label", "label": "Refund"},
            headers=amy,
        )
    ).json()
    assert [(r["id"], r["ok"], r["status"]) for r in out["results"]] == [
        (mine, True, 200),
        (vip, False, 403),
        ("9-9", False, 404),
    ]
    conv = await desk.parts.store.get(mine)
    assert conv is not None and conv.labels == ("refund",)
    out = (
        await c.post("/api/v1/conversations/bulk", json={"ids": [mine, vip], "action": "resolve"}, headers=amy)
    ).json()
    assert [r["ok"] for r in out["results"]] == [True, False]
    resolved, untouched = await desk.parts.store.get(mine), await desk.parts.store.get(vip)
    assert resolved is not None and resolved.status is Status.RESOLVED
    assert untouched is not None and untouched.status is Status.OPEN
    meg = await desk.token("meg")  # marketing never acts on conversations, in bulk either
    assert (
        await c.post("/api/v1/conversations/bulk", json={"ids": [vip], "action": "resolve"}, headers=meg)
    ).status_code == 403
    bad = await c.post("/api/v1/conversations/bulk", json={"ids": [vip], "action": "label"}, headers=amy)
    assert bad.status_code == 422
