"""Accounts and security: roles, CSRF, login throttling, tokens, headers, XSS."""

from __future__ import annotations

import html
import re

from helpline.console.roles import Role
from helpline.routing.models import MessageKind

from .helpers import PASSWORD, Desk, login

XSS = '<script>alert("pwned")</script><img src=x onerror=alert(1)>'


async def test_marketing_never_sees_private_conversations_nor_acts(desk: Desk) -> None:
    private = await desk.conversation("my seed phrase leaked", thread="dm")
    public = await desk.conversation("@exchange is the app down?", thread="pub", user="u2", kind=MessageKind.MENTION)
    c = desk.client()
    meg = await desk.token("meg")
    listed = [s["conversation"]["id"] for s in (await c.get("/api/v1/conversations", headers=meg)).json()["items"]]
    assert listed == [public]
    assert (await c.get(f"/api/v1/conversations/{private}", headers=meg)).status_code == 403
    assert (await c.get(f"/api/v1/conversations/{public}", headers=meg)).status_code == 200
    for action, body in [
        ("reply", {"text": "hi"}),
        ("notes", {"text": "x"}),
        ("assign", {}),
        ("resolve", {}),
        ("escalate", {}),
        ("labels", {"add": ["a"]}),
        ("pending", {}),
    ]:
        r = await c.post(f"/api/v1/conversations/{public}/{action}", json=body, headers=meg)
        assert r.status_code == 403, action
    assert (await c.get("/api/v1/canned", headers=meg)).status_code == 403
    # the page refuses too
    session, _ = await desk.login("meg")
    page = await session.get(f"/c/{private}")
    assert page.status_code == 403 and "seed phrase" not in page.text


async def test_admin_manages_users_others_cannot(desk: Desk) -> None:
    c = desk.client()
    new = {"username": "kim", "password": "long enough pw", "role": "agent", "teams": ["support"]}
    assert (await c.post("/api/v1/users", json=new, headers=await desk.token("sue"))).status_code == 403
    root = await desk.token("root")
    r = await c.post("/api/v1/users", json=new, headers=root)
    assert r.status_code == 201 and "password" not in r.text
    assert (await c.post("/api/v1/users", json=new, headers=root)).status_code == 422  # exists
    assert "kim" in {a.agent.id for a in await desk.parts.assignments.roster()}  # agents join the roster
    r = await c.patch("/api/v1/users/kim", json={"disabled": True}, headers=root)
    assert r.json()["disabled"] is True
    assert (await login(desk.client(), "kim", "long enough pw")).status_code == 401
    assert (await c.delete("/api/v1/users/kim", headers=root)).status_code == 204
    assert (await c.get("/api/v1/users", headers=await desk.token("amy"))).status_code == 403


async def test_csrf_is_required_for_cookie_sessions_not_for_tokens(desk: Desk) -> None:
    cid = await desk.conversation("hello")
    session, csrf = await desk.login("amy")
    url = f"/api/v1/conversations/{cid}/notes"
    assert (await session.post(url, json={"text": "no token"})).status_code == 403
    assert (await session.post(url, json={"text": "bad"}, headers={"X-CSRF-Token": "nope"})).status_code == 403
    assert (await session.post(url, json={"text": "ok"}, headers={"X-CSRF-Token": csrf})).status_code == 200
    # forms carry it as a field
    assert (await session.post(f"/c/{cid}/do/escalate", data={})).status_code == 403
    r = await session.post(f"/c/{cid}/do/escalate", data={"csrf_token": csrf})
    assert r.status_code == 303
    # a bearer token is exempt (browsers never attach one by themselves)
    token = await desk.token("amy")
    assert (await desk.client().post(url, json={"text": "bot"}, headers=token)).status_code == 200
    # a forged login (no matching double-submit cookie) is refused
    r = await desk.client().post("/login", data={"username": "amy", "password": PASSWORD, "csrf_token": "x"})
    assert r.status_code == 401 and "hl_session" not in r.headers.get("set-cookie", "")


async def test_session_cookie_flags_and_logout(desk: Desk) -> None:
    c = desk.client()
    r = await login(c, "amy", PASSWORD)
    cookie = next(v for k, v in r.headers.multi_items() if k == "set-cookie" and v.startswith("hl_session="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    secure = desk.client(base_url="https://console.test")
    r = await login(secure, "amy", PASSWORD)
    cookie = next(v for k, v in r.headers.multi_items() if k == "set-cookie" and v.startswith("hl_session="))
    assert "Secure" in cookie
    me = await c.get("/api/v1/me")
    assert me.json()["username"] == "amy" and me.json()["via"] == "session"
    page = await c.get("/")
    csrf = page.text.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
    assert (await c.post("/logout", data={"csrf_token": csrf})).status_code == 303
    assert (await c.get("/api/v1/me")).status_code == 401
    assert (await c.get("/")).status_code == 303  # back to the login page


async def test_login_is_rate_limited_per_username_and_address(desk: Desk) -> None:
    c = desk.client()
    for _ in range(5):
        assert (await login(c, "amy", "wrong password")).status_code == 401
    blocked = await login(c, "amy", PASSWORD)  # right password, but too many failures
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0
    assert (await login(c, "bob", PASSWORD)).status_code == 303  # another user is not blocked
    # many usernames from one address
    desk.svc.throttle.limits = type(desk.svc.throttle.limits)(per_username=5, per_address=8, window_s=60)
    for i in range(3):
        await login(c, f"nobody{i}", "x" * 12)
    assert (await login(c, "sue", PASSWORD)).status_code == 429


async def test_api_tokens_are_shown_once_hashed_and_revocable(desk: Desk) -> None:
    session, csrf = await desk.login("sue")
    r = await session.post("/api/v1/tokens", json={"name": "bot", "role": "agent"}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201
    token, token_id = r.json()["token"], r.json()["id"]
    stored = [k async for k in desk.parts.client.scan_iter(match="hl:console:token:*")]
    assert stored and all(token.encode() not in k for k in stored)
    assert token not in (await session.get("/api/v1/tokens")).text
    bearer = {"Authorization": f"Bearer {token}"}
    me = (await desk.client().get("/api/v1/me", headers=bearer)).json()
    assert me["username"] == "sue" and me["role"] == "agent" and me["via"] == "token"
    # an agent token cannot do supervisor things even though its owner can
    assert (
        await desk.client().post("/api/v1/canned", json={"title": "t", "texts": {"en": "x"}}, headers=bearer)
    ).status_code == 403
    r = await session.post("/api/v1/tokens", json={"name": "up", "role": "admin"}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 403
    assert (await session.delete(f"/api/v1/tokens/{token_id}", headers={"X-CSRF-Token": csrf})).status_code == 204
    assert (await desk.client().get("/api/v1/me", headers=bearer)).status_code == 401
    assert (await desk.client().get("/api/v1/me", headers={"Authorization": "Bearer hlt_forged"})).status_code == 401


async def test_security_headers_and_xss_rendered_inert(desk: Desk) -> None:
    cid = await desk.conversation(XSS, thread="x", user="evil")
    await desk.parts.client.hset("hl:contact:null:main:evil", "display_name", XSS)  # type: ignore[misc]
    session, _ = await desk.login("amy")
    for path in ("/?view=all", f"/c/{cid}"):
        page = await session.get(path)
        assert page.status_code == 200
        assert "<script>alert" not in page.text and "<img src=x" not in page.text
        assert html.escape(XSS, quote=False)[:40] in page.text.replace("&#34;", '"').replace("&#39;", "'")
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["referrer-policy"] == "same-origin"
        assert "<script>" not in page.text.replace('<script src="/static/', "")  # no inline script at all
    api = await session.get(f"/api/v1/conversations/{cid}")
    assert api.json()["timeline"][0]["text"] == XSS  # stored as the customer wrote it


async def test_roles_on_canned_and_rendering_by_language(desk: Desk) -> None:
    cid = await desk.conversation("출금이 안 돼요", thread="ko", language="ko")
    c = desk.client()
    body = {
        "id": "greet",
        "title": "Greeting",
        "texts": {"en": "Hi {{contact.name}}, {{agent.name}} here.", "ko": "{{contact.name}}님, {{agent.name}}입니다."},
    }
    assert (await c.post("/api/v1/canned", json=body, headers=await desk.token("amy"))).status_code == 403
    sue = await desk.token("sue")
    assert (await c.post("/api/v1/canned", json=body, headers=sue)).status_code == 201
    assert (
        await c.post("/api/v1/canned", json={"title": "Only ja", "id": "ja", "texts": {"ja": "はい"}}, headers=sue)
    ).status_code == 201
    amy = await desk.token("amy")
    rendered = {x["id"]: x for x in (await c.get(f"/api/v1/canned/rendered/{cid}", headers=amy)).json()}
    assert rendered["greet"]["language"] == "ko" and rendered["greet"]["text"] == "U1님, Amy Agent입니다."
    assert rendered["ja"]["text"] == "はい"  # no ko or en variant: the one there is
    en = await desk.conversation("hello", thread="en", user="u2", language="fr")
    rendered = {x["id"]: x for x in (await c.get(f"/api/v1/canned/rendered/{en}", headers=amy)).json()}
    assert rendered["greet"]["language"] == "en" and rendered["greet"]["text"] == "Hi U2, Amy Agent here."
    assert (await c.delete("/api/v1/canned/greet", headers=sue)).status_code == 204
    assert [x["id"] for x in (await c.get("/api/v1/canned", headers=amy)).json()] == ["ja"]


async def test_linked_contacts_share_history(desk: Desk) -> None:
    tg = await desk.conversation("withdrawal stuck", thread="tg", user="alice")
    x = await desk.conversation("@exchange still stuck!", thread="xx", user="alice_x", kind=MessageKind.MENTION)
    c = desk.client()
    amy = await desk.token("amy")
    r = await c.post("/api/v1/contacts/null:main:alice/links", json={"other": "null:main:alice_x"}, headers=amy)
    assert r.status_code == 200 and [x["id"] for x in r.json()["linked"]] == ["null:main:alice_x"]
    assert {s["conversation"]["id"] for s in r.json()["conversations"]} == {tg, x}
    detail = (await c.get(f"/api/v1/conversations/{tg}", headers=amy)).json()
    assert [s["conversation"]["id"] for s in detail["related"]] == [x]
    texts = [(i["text"], i["current"]) for i in detail["timeline"] if i["kind"] == "message"]
    assert texts == [("withdrawal stuck", True), ("@exchange still stuck!", False)]
    assert any(e.type.value == "linked" for e in await desk.parts.store.events(x))
    assert (
        await c.post("/api/v1/contacts/null:main:alice/links", json={"other": "null:main:nobody"}, headers=amy)
    ).status_code == 404
    assert Role.AGENT.is_routing_agent


async def test_an_agent_sees_and_links_only_contacts_of_conversations_they_may_see(desk: Desk) -> None:
    await desk.conversation("withdrawal stuck", thread="tg", user="alice")  # team support
    await desk.conversation("vip here", thread="vip", user="carol")
    c = desk.client()
    bob = await desk.token("bob")  # team vip: sees none of alice's conversations
    assert (await c.get("/api/v1/contacts/null:main:alice", headers=bob)).status_code == 404
    assert (await c.get("/api/v1/contacts/null:main:carol", headers=bob)).status_code == 200  # team vip
    linked = await c.post("/api/v1/contacts/null:main:carol/links", json={"other": "null:main:alice"}, headers=bob)
    assert linked.status_code == 404
    assert await desk.svc.links.group("null:main:carol") == ["null:main:carol"]
    amy = await desk.token("amy")  # team support
    assert (await c.get("/api/v1/contacts/null:main:alice", headers=amy)).status_code == 200
    sue = await desk.token("sue")  # a supervisor sees every contact
    assert (await c.get("/api/v1/contacts/null:main:carol", headers=sue)).status_code == 200


async def test_openapi_and_health_still_served(desk: Desk) -> None:
    c = desk.client()
    spec = (await c.get("/openapi.json")).json()
    assert "/api/v1/conversations" in spec["paths"] and "/api/v1/conversations/{conversation_id}/reply" in spec["paths"]
    assert (await c.get("/healthz")).json()["redis"] is True


async def test_api_docs_use_local_pinned_assets_under_the_csp(desk: Desk) -> None:
    c = desk.client()
    page = await c.get("/api/docs")
    assert page.status_code == 200 and "script-src 'self'" in page.headers["content-security-policy"]
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources and all(s.startswith("/static/") for s in sources), sources
    assert "<script>" not in page.text  # no inline script: the CSP applies to this page too
    for source in sources:
        asset = await c.get(source)
        assert asset.status_code == 200 and len(asset.content) > 50, source
    assert "SwaggerUIBundle" in (await c.get("/static/swagger/swagger-ui-bundle.js")).text
    assert (await c.get("/redoc")).status_code == 404  # it loaded a CDN script too
