"""Deleting or disabling a user takes them out of routing: presence and roster gone, their open
conversations handed on, and a later user of the same name inherits nothing."""

from __future__ import annotations

from helpline.console.roles import Role
from helpline.routing.models import Status

from .helpers import PASSWORD, Desk


async def _make_ghost(desk: Desk, teams: list[str]) -> None:
    created = await desk.client().post(
        "/api/v1/users",
        headers=await desk.token("root"),
        json={"username": "ghost", "password": PASSWORD, "role": "agent", "name": "Ghost", "teams": teams},
    )
    assert created.status_code == 201, created.text


async def _conversations_of_ghost(desk: Desk) -> tuple[str, str]:
    await _make_ghost(desk, ["support"])
    await desk.online("ghost")
    open_one = await desk.conversation("my withdrawal is stuck", thread="g1", user="c1")
    done = await desk.conversation("how do I reset 2FA", thread="g2", user="c2")
    for cid in (open_one, done):
        conv = await desk.parts.store.get(cid)
        assert conv is not None and conv.assignee == "ghost"
    ghost = await desk.token("ghost", Role.AGENT)
    resolved = await desk.client().post(f"/api/v1/conversations/{done}/resolve", headers=ghost, json={})
    assert resolved.status_code == 200
    return open_one, done


async def _check_withdrawn(desk: Desk, open_one: str, done: str) -> None:
    root = await desk.token("root")
    agents = (await desk.client().get("/api/v1/agents", headers=root)).json()
    assert "ghost" not in {a["id"] for a in agents}
    conv = await desk.parts.store.get(open_one)
    assert conv is not None and conv.assignee is None and conv.status is not Status.RESOLVED
    assert [cid for cid, _ in await desk.parts.assignments.queued("support")] == [open_one]
    resolved = await desk.parts.store.get(done)
    assert resolved is not None and resolved.assignee is None
    new = await desk.conversation("is the exchange down?", thread="g3", user="c3")
    fresh = await desk.parts.store.get(new)
    assert fresh is not None and fresh.assignee != "ghost"


async def test_deleted_user_leaves_routing_and_a_namesake_inherits_nothing(desk: Desk) -> None:
    open_one, done = await _conversations_of_ghost(desk)
    root = await desk.token("root")
    assert (await desk.client().delete("/api/v1/users/ghost", headers=root)).status_code == 204
    await _check_withdrawn(desk, open_one, done)
    await _make_ghost(desk, [])  # the same name again, in no team
    ghost = await desk.token("ghost", Role.AGENT)
    mine = (await desk.client().get("/api/v1/conversations", headers=ghost, params={"view": "all"})).json()
    assert mine["items"] == []
    for cid in (open_one, done):
        assert (await desk.client().get(f"/api/v1/conversations/{cid}", headers=ghost)).status_code in (403, 404)


async def test_disabled_user_leaves_routing(desk: Desk) -> None:
    open_one, done = await _conversations_of_ghost(desk)
    root = await desk.token("root")
    patched = await desk.client().patch("/api/v1/users/ghost", headers=root, json={"disabled": True})
    assert patched.status_code == 200, patched.text
    await _check_withdrawn(desk, open_one, done)
    enabled = await desk.client().patch("/api/v1/users/ghost", headers=root, json={"disabled": False})
    assert enabled.status_code == 200
    agents = (await desk.client().get("/api/v1/agents", headers=root)).json()
    assert {a["id"]: a["presence"] for a in agents}["ghost"] == "offline"  # back, but not online by itself
