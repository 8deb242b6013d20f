"""Regression tests from a security review: every route's guard, token roles after a demotion,
concurrent login attempts, private items of a public thread, CSV formula prefixes."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from typing import Any

from fastapi import routing as fastapi_routing

from helpline.console.actions import event
from helpline.console.roles import Role
from helpline.insights.render import _cell
from helpline.routing.models import EventType, MessageKind, utcnow
from helpline.routing.store import Effects
from tests.console.helpers import PASSWORD, Desk, login

# Served to anyone by design (README "Security"): health, metrics, login, docs, static files.
PUBLIC = {
    "/favicon.ico",
    "/healthz",
    "/metrics",
    "/login",
    "/openapi.json",
    "/api/docs",
    "/docs/oauth2-redirect",
    "/redoc",
    "/api/announcements-health",
    "/static/announcements/{name}",
    "/static/swagger",
}


def _routes(routes: list[Any]) -> Iterator[Any]:
    """Every route, looking into included routers (FastAPI keeps them nested)."""
    included = getattr(fastapi_routing, "_IncludedRouter", None)
    for r in routes:
        if included is not None and isinstance(r, included):
            yield from _routes(list(r.effective_candidates()))
        else:
            yield r


async def test_every_route_needs_a_login_unless_public(desk: Desk) -> None:
    cid = await desk.conversation()
    anon = desk.client()
    checked = 0
    for route in _routes(list(desk.app.routes)):
        path = getattr(route, "path", None)
        methods = getattr(getattr(route, "original_route", route), "methods", None) or {"GET"}
        if path is None or path in PUBLIC or path == "/static":
            continue
        url = re.sub(r"\{[^}]+\}", lambda m: cid if "conversation" in m.group(0) else "x", path)
        for method in sorted(methods - {"HEAD"}):
            status = (await anon.request(method, url, json={})).status_code
            # 303: a page sends the visitor to the login form
            assert status in (401, 303), f"{method} {path} answered {status} without a login"
            checked += 1
    assert checked > 40


async def test_a_token_loses_the_role_its_owner_lost(desk: Desk) -> None:
    bearer = await desk.token("root")  # an admin token
    assert (await desk.client().get("/api/v1/users", headers=bearer)).status_code == 200
    await desk.svc.users.update("root", role=Role.AGENT)
    assert (await desk.client().get("/api/v1/users", headers=bearer)).status_code == 401
    assert (await desk.client().get("/api/v1/me", headers=bearer)).status_code == 401


async def test_concurrent_wrong_passwords_do_not_outrun_the_limit(desk: Desk) -> None:
    c = desk.client()
    form = await c.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token
    data = {"username": "amy", "password": "wrong password", "csrf_token": token.group(1), "next": "/"}
    answers = await asyncio.gather(*(c.post("/login", data=data) for _ in range(20)))
    checked = [a for a in answers if a.status_code == 401]  # a password was checked
    assert len(checked) <= 5 and sum(a.status_code == 429 for a in answers) >= 15
    right = await login(desk.client(), "amy", PASSWORD)
    assert right.status_code == 429


async def test_a_successful_login_does_not_count_against_the_address(desk: Desk) -> None:
    desk.svc.throttle.limits = type(desk.svc.throttle.limits)(per_username=5, per_address=3, window_s=60)
    for _ in range(5):
        await desk.login("amy")


async def test_marketing_does_not_see_the_private_warning_of_a_public_thread(desk: Desk) -> None:
    cid = await desk.conversation("here is my seed phrase", thread="pub", kind=MessageKind.MENTION)
    conv = await desk.parts.store.get(cid)
    assert conv is not None and conv.visibility.value == "public"
    now = utcnow()
    await desk.parts.store.commit(
        [
            Effects(cid).event(
                event(
                    conv,
                    EventType.REPLY_QUEUED,
                    "bot:faq",
                    "bot answer",
                    now,
                    reply_id=f"{cid}:w",
                    private=True,
                    text="PRIVATE WARNING: never share a seed phrase",
                )
            )
        ],
        now,
    )
    meg = await desk.token("meg")
    got = await desk.client().get(f"/api/v1/conversations/{cid}", headers=meg)
    assert got.status_code == 200
    assert "PRIVATE WARNING" not in got.text and "seed phrase" in got.text
    sue = await desk.token("sue")
    assert "PRIVATE WARNING" in (await desk.client().get(f"/api/v1/conversations/{cid}", headers=sue)).text


async def test_marketing_sees_neither_internal_notes_nor_links_to_private_conversations(desk: Desk) -> None:
    cid = await desk.conversation("is the staking page down?", thread="pub2", kind=MessageKind.MENTION)
    conv = await desk.parts.store.get(cid)
    assert conv is not None
    now = utcnow()
    await desk.parts.store.commit(
        [
            Effects(cid)
            .event(event(conv, EventType.NOTE, "agent:amy", "note", now, text="INTERNAL: UID 123 passed KYC"))
            .event(
                event(
                    conv,
                    EventType.LINKED,
                    "router",
                    "the customer continued in a private conversation",
                    now,
                    conversation="9-99",
                )
            )
        ],
        now,
    )
    meg = (await desk.client().get(f"/api/v1/conversations/{cid}", headers=await desk.token("meg"))).text
    assert "INTERNAL: UID" not in meg and "9-99" not in meg and "staking page" in meg
    sue = (await desk.client().get(f"/api/v1/conversations/{cid}", headers=await desk.token("sue"))).text
    assert "INTERNAL: UID" in sue and "9-99" in sue


def test_csv_cells_starting_with_tab_or_carriage_return_are_defused() -> None:
    assert _cell("\t=HYPERLINK(1)") == "'\t=HYPERLINK(1)"
    assert _cell("\r=1+1") == "'\r=1+1"
    assert _cell("-12.5") == "-12.5" and _cell("=cmd") == "'=cmd"


async def test_the_login_alert_takes_no_words_from_a_link(desk: Desk) -> None:
    page = await desk.client().get("/login", params={"error": "Session expired: call +1 555 0100 to unlock"})
    assert page.status_code == 200 and "555 0100" not in page.text
    wrong = await login(desk.client(), "amy", "wrong password")
    assert wrong.status_code == 401 and "Wrong username or password." in wrong.text


async def test_deleting_a_user_revokes_their_tokens(desk: Desk) -> None:
    bearer = await desk.token("bob")
    admin = await desk.token("root")
    assert (await desk.client().delete("/api/v1/users/bob", headers=admin)).status_code == 204
    await desk.svc.users.add("bob", PASSWORD, Role.AGENT, name="Another Bob", teams=["support"])
    assert (await desk.client().get("/api/v1/me", headers=bearer)).status_code == 401
    assert all(t.username != "bob" for t in await desk.svc.tokens.list())


async def test_a_password_change_or_deletion_ends_the_users_sessions(desk: Desk) -> None:
    admin = await desk.token("root")
    amy, _ = await desk.login("amy")
    bob, _ = await desk.login("bob")
    sue, _ = await desk.login("sue")
    r = await desk.client().patch("/api/v1/users/amy", json={"password": "a new long password"}, headers=admin)
    assert r.status_code == 200
    assert (await amy.get("/api/v1/me")).status_code == 401
    assert (await desk.client().delete("/api/v1/users/bob", headers=admin)).status_code == 204
    await desk.svc.users.add("bob", PASSWORD, Role.AGENT, name="Another Bob", teams=["support"])
    assert (await bob.get("/api/v1/me")).status_code == 401
    assert (await sue.get("/api/v1/me")).status_code == 200  # others stay logged in


async def test_incident_conversation_ids_are_for_those_who_see_every_conversation(desk: Desk) -> None:
    from helpline.announcements.incidents import IncidentStore

    store = IncidentStore(desk.parts.client, cache_seconds=0)
    incident = await store.open(keywords=["withdrawal"], link="https://status.example.com/1")
    await store.link(incident.id, "3-7")
    c = desk.client()
    for user, expected in (("sue", ["3-7"]), ("meg", [])):
        body = (await c.get("/api/incidents", headers=await desk.token(user))).json()
        row = next(i for i in body["incidents"] if i["id"] == incident.id)
        assert row["conversations"] == expected and row["conversation_count"] == 1
