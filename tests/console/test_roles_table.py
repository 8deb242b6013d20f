"""The README's Roles table, as code: agents hand on only within the conversation's team, and
every user's API tokens are their own, never above their role."""

from __future__ import annotations

from .helpers import Desk


async def test_an_agent_cannot_hand_a_conversation_to_another_teams_agent(desk: Desk) -> None:
    await desk.online("amy")
    cid = await desk.conversation("withdrawal stuck", thread="t9", user="u9")  # team support: amy takes it
    assert (conv := await desk.parts.store.get(cid)) is not None and conv.assignee == "amy"
    await desk.online("bob", "sue")
    c = desk.client()
    amy = await desk.token("amy")
    refused = await c.post(f"/api/v1/conversations/{cid}/assign", headers=amy, json={"agent_id": "bob"})  # vip
    assert refused.status_code == 403 and "team" in refused.json()["detail"]
    assert (
        await c.post(f"/api/v1/conversations/{cid}/assign", headers=amy, json={"agent_id": "sue"})
    ).status_code == 200  # sue is in support too
    sue = await desk.token("sue")  # a supervisor hands it anywhere
    assert (
        await c.post(f"/api/v1/conversations/{cid}/assign", headers=sue, json={"agent_id": "bob"})
    ).status_code == 200


async def test_api_tokens_are_the_owners_own_and_never_above_their_role(desk: Desk) -> None:
    c = desk.client()
    for username in ("amy", "meg"):
        headers = await desk.token(username)
        assert (await c.post("/api/v1/tokens", headers=headers, json={"name": "cli"})).status_code == 201
        assert (
            await c.post("/api/v1/tokens", headers=headers, json={"name": "x", "username": "root"})
        ).status_code == 403
        assert (await c.post("/api/v1/tokens", headers=headers, json={"name": "x", "role": "admin"})).status_code == 403
    root = await desk.token("root")
    made = await c.post("/api/v1/tokens", headers=root, json={"name": "for amy", "username": "amy", "role": "agent"})
    assert made.status_code == 201
