"""Learning from agents in the console: replies that give an article and the "this article
answers it" control propose the customer's question as an example; supervisors approve it."""

from __future__ import annotations

import re

import redis.asyncio as redis

from helpline.bots.examples import ExampleStore, Source, Status
from helpline.bots.kb import load_kb
from helpline.console.canned import CannedResponse
from helpline.routing.models import EventType
from tests.bots.conftest import KB_DIR

from .helpers import Desk

QUESTION = "lost my phone and the authenticator with it, how do i get in"
LINK = "https://help.example.com/articles/2fa-reset"


async def _desk_with_kb(desk: Desk) -> Desk:
    desk.svc.articles = load_kb(KB_DIR)
    return desk


async def test_a_reply_with_an_article_link_proposes_the_question(desk: Desk, r: redis.Redis) -> None:
    await _desk_with_kb(desk)
    cid = await desk.conversation(QUESTION)
    headers = await desk.token("sue")
    c = desk.client()
    body = {"text": f"Sorry about that! Here is how: {LINK} — tell me if it works."}
    for _ in range(2):  # the same reply twice (Idempotency-Key): one example
        response = await c.post(
            f"/api/v1/conversations/{cid}/reply", json=body, headers={**headers, "Idempotency-Key": "k1"}
        )
        assert response.status_code == 200, response.text
    (example,) = await ExampleStore(r).all()
    assert (example.key, example.language, example.text) == ("2fa-reset", "en", QUESTION)
    assert example.status is Status.PENDING and example.source is Source.LINK
    assert example.conversation_id == cid and example.proposed_by == "agent:sue"
    replies = [e for e in await desk.parts.store.events(cid) if e.type is EventType.REPLY_QUEUED]
    assert replies[-1].data.get("article") == "2fa-reset"  # the reports count the article's topic


async def test_a_reply_from_a_canned_response_tied_to_an_article_proposes_it(desk: Desk, r: redis.Redis) -> None:
    await _desk_with_kb(desk)
    await desk.svc.canned.put(
        CannedResponse(id="pw", title="Password", texts={"en": "Use Forgot password."}, article="password-reset")
    )
    await desk.svc.canned.put(CannedResponse(id="hi", title="Hello", texts={"en": "Hello!"}))
    cid = await desk.conversation("forgot my password, cannot log in at all")
    headers = await desk.token("sue")
    c = desk.client()
    ok = await c.post(f"/api/v1/conversations/{cid}/reply", json={"text": "Hello!", "canned_id": "hi"}, headers=headers)
    assert ok.status_code == 200 and await ExampleStore(r).all() == []  # no article: nothing learnt
    ok = await c.post(
        f"/api/v1/conversations/{cid}/reply", json={"text": "Use Forgot password.", "canned_id": "pw"}, headers=headers
    )
    assert ok.status_code == 200
    (example,) = await ExampleStore(r).all()
    assert example.key == "password-reset" and example.source is Source.CANNED
    bad = await c.post(f"/api/v1/conversations/{cid}/reply", json={"text": "x", "canned_id": "../etc"}, headers=headers)
    assert bad.status_code == 422


async def test_marking_this_article_answers_it_needs_the_csrf_token(desk: Desk, r: redis.Redis) -> None:
    await _desk_with_kb(desk)
    cid = await desk.conversation(QUESTION)
    c, csrf = await desk.login("amy")
    page = await c.get(f"/c/{cid}")
    assert 'id="mark-article"' in page.text and 'value="2fa-reset"' in page.text
    refused = await c.post(f"/c/{cid}/do/example", data={"article": "2fa-reset"})
    assert refused.status_code == 403 and await ExampleStore(r).all() == []
    done = await c.post(f"/c/{cid}/do/example", data={"article": "2fa-reset", "csrf_token": csrf})
    assert done.status_code == 303 and done.headers["location"] == f"/c/{cid}?example=proposed"
    (example,) = await ExampleStore(r).all()
    assert example.source is Source.MARKED and example.proposed_by == "agent:amy"
    assert "awaits a supervisor" in (await c.get(done.headers["location"])).text
    unknown = await c.post(f"/c/{cid}/do/example", data={"article": "no-such", "csrf_token": csrf})
    assert unknown.status_code == 422 and "no article &#39;no-such&#39;" in unknown.text
    assert len(await ExampleStore(r).all()) == 1


async def test_no_mark_control_without_a_knowledge_base(desk: Desk) -> None:
    cid = await desk.conversation(QUESTION)
    c, _ = await desk.login("amy")
    assert 'id="mark-article"' not in (await c.get(f"/c/{cid}")).text


async def test_supervisors_approve_and_reject_on_the_examples_page(desk: Desk, r: redis.Redis) -> None:
    await _desk_with_kb(desk)
    store = ExampleStore(r)
    first = await store.propose("2fa-reset", "en", QUESTION, Source.LINK, conversation_id="0-1", who="agent:amy")
    second = await store.propose("password-reset", "en", "pw forgotten pls help", Source.MARKED, who="agent:amy")
    assert first is not None and second is not None
    amy, amy_csrf = await desk.login("amy")
    assert (await amy.get("/examples")).status_code == 403
    assert (await amy.post(f"/examples/{first.id}/approve", data={"csrf_token": amy_csrf})).status_code == 403
    sue, csrf = await desk.login("sue")
    page = await sue.get("/examples")
    assert page.status_code == 200 and QUESTION in page.text and 'href="/examples"' in page.text
    assert re.search(r'data-count="pending">\s*2<', page.text)
    refused = await sue.post(f"/examples/{first.id}/approve", data={"status": "pending"})
    assert refused.status_code == 403 and (await store.get(first.id)).status is Status.PENDING  # type: ignore[union-attr]
    approved = await sue.post(f"/examples/{first.id}/approve", data={"csrf_token": csrf, "status": "pending"})
    assert approved.status_code == 303 and approved.headers["location"] == "/examples?status=pending"
    rejected = await sue.post(f"/examples/{second.id}/reject", data={"csrf_token": csrf})
    assert rejected.status_code == 303
    got = {e.id: e for e in await store.all()}
    assert got[first.id].status is Status.APPROVED and got[first.id].decided_by == "agent:sue"
    assert got[second.id].status is Status.REJECTED and await store.version() == 1
    listing = await sue.get("/examples?status=approved")
    assert QUESTION in listing.text and "Withdraw" in listing.text
    missing = await sue.post("/examples/0123456789abcdef0123/approve", data={"csrf_token": csrf})
    assert missing.status_code == 404


async def test_the_examples_page_shows_the_newest_two_hundred(desk: Desk, r: redis.Redis) -> None:
    store = ExampleStore(r)
    for i in range(203):
        await store.propose("2fa-reset", "en", f"question number {i}", Source.LINK)
    sue, _ = await desk.login("sue")
    page = await sue.get("/examples")
    assert page.text.count("data-example=") == 200 and "The newest 200 of 203." in page.text
    assert "question number 202" in page.text and "question number 0<" not in page.text


async def test_the_examples_api_lists_decides_and_deletes_for_supervisors(desk: Desk, r: redis.Redis) -> None:
    store = ExampleStore(r)
    first = await store.propose("2fa-reset", "en", QUESTION, Source.LINK, who="agent:amy")
    second = await store.propose("password-reset", "en", "forgot my password again", Source.MARKED)
    assert first is not None and second is not None
    c = desk.client()
    sue, amy, meg = await desk.token("sue"), await desk.token("amy"), await desk.token("meg")
    for who in (amy, meg):  # agents and marketing neither read nor decide
        assert (await c.get("/api/v1/examples", headers=who)).status_code == 403
        assert (await c.post(f"/api/v1/examples/{first.id}/approve", headers=who)).status_code == 403
        assert (await c.delete(f"/api/v1/examples/{first.id}", headers=who)).status_code == 403
    assert (await c.get("/api/v1/examples")).status_code == 401
    listed = await c.get("/api/v1/examples", headers=sue, params={"status": "pending"})
    assert [e["id"] for e in listed.json()] == [first.id, second.id]
    version = await store.version()
    approved = await c.post(f"/api/v1/examples/{first.id}/approve", headers=sue)
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    assert approved.json()["decided_by"] == "agent:sue" and await store.version() > version
    assert [e["id"] for e in (await c.get("/api/v1/examples?status=approved", headers=sue)).json()] == [first.id]
    rejected = await c.post(f"/api/v1/examples/{second.id}/reject", headers=sue)
    assert rejected.json()["status"] == "rejected"
    assert (await c.get(f"/api/v1/examples/{second.id}", headers=sue)).json()["status"] == "rejected"
    assert (await c.get("/api/v1/examples?status=maybe", headers=sue)).status_code == 422
    assert (await c.post("/api/v1/examples/not-an-id/approve", headers=sue)).status_code == 422
    assert (await c.post("/api/v1/examples/0123456789abcdef0123/reject", headers=sue)).status_code == 404
    version = await store.version()
    assert (await c.delete(f"/api/v1/examples/{first.id}", headers=sue)).status_code == 204
    assert await store.get(first.id) is None and await store.version() > version  # the bots drop it
    assert (await c.delete(f"/api/v1/examples/{first.id}", headers=sue)).status_code == 404
    assert [e.id for e in await store.all()] == [second.id]


async def test_the_examples_api_needs_the_csrf_token_with_a_session(desk: Desk, r: redis.Redis) -> None:
    example = await ExampleStore(r).propose("2fa-reset", "en", QUESTION, Source.LINK)
    assert example is not None
    sue, csrf = await desk.login("sue")
    assert (await sue.get("/api/v1/examples")).status_code == 200  # reading needs no token
    refused = await sue.post(f"/api/v1/examples/{example.id}/approve")
    assert refused.status_code == 403 and (await ExampleStore(r).get(example.id)).status is Status.PENDING  # type: ignore[union-attr]
    assert (await sue.delete(f"/api/v1/examples/{example.id}")).status_code == 403
    done = await sue.post(f"/api/v1/examples/{example.id}/approve", headers={"X-CSRF-Token": csrf})
    assert done.status_code == 200 and done.json()["status"] == "approved"
    assert (await sue.delete(f"/api/v1/examples/{example.id}", headers={"X-CSRF-Token": csrf})).status_code == 204
