"""The README's Roles table, as code: agents hand on only within the conversation's team, and
every user's API tokens are their own, never above their role."""

from __future__ import annotations

import re
from pathlib import Path

from helpline.console.roles import Role, may_delegate

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


def _readme_token_roles() -> dict[str, set[str]]:
    """From the README's Roles table: the token roles each role's row names."""
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    table = readme.split("### Roles", 1)[1].split("\n\n", 2)[1]
    rows = dict(re.findall(r"^\| `(\w+)` \| (.*) \|$", table, re.M))
    found = {role: re.search(r"API tokens[^(]*\(roles ([^)]*)\)", may) for role, may in rows.items()}
    return {role: set(re.findall(r"`(\w+)`", m.group(1))) if m else set() for role, m in found.items()}


async def test_the_roles_table_the_code_and_the_tokens_page_agree_on_token_roles(desk: Desk) -> None:
    table = _readme_token_roles()
    assert set(table) == {r.value for r in Role}
    for owner in Role:
        allowed = {r.value for r in Role if may_delegate(owner, r)}
        assert table[owner.value] == allowed, owner
    for username in ("amy", "sue", "meg", "root"):  # the page offers exactly those roles
        session, _ = await desk.login(username)
        page = await session.get("/tokens")
        assert page.status_code == 200
        select = re.search(r'<select name="role">(.*?)</select>', page.text, re.S)
        assert select is not None
        offered = set(re.findall(r'<option value="(\w+)"', select.group(1)))
        me = (await session.get("/api/v1/me")).json()
        assert offered == table[me["role"]], username
        assert ('name="username"' in page.text) is (username == "root")  # only an admin picks the owner
