"""The conversations API: lists, detail, and every action, through the real app on real Redis."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from helpline.connectors.base import AccountSettings, ConnectorContext
from helpline.connectors.null import NullConnector
from helpline.connectors.ratelimit import SharedRateLimiter
from helpline.console.actions import wake_snoozed
from helpline.routing import keys
from helpline.routing.models import EventType, MessageKind, OutboundReply, Presence
from helpline.routing.sender import Sender

from .helpers import Desk


async def outbound(desk: Desk) -> list[OutboundReply]:
    out = []
    for p in range(desk.parts.store.partitions):
        for _, fields in await desk.parts.client.xrange(keys.outbound_stream(p, "null", "main")):
            out.append(OutboundReply.model_validate_json(fields[b"m"]))
    return out


async def test_list_filters_and_cursor_pagination(desk: Desk) -> None:
    ids = [await desk.conversation(f"question {i}", thread=f"t{i}", user=f"u{i}") for i in range(7)]
    vip = await desk.conversation(
        "vip: 카드 결제가 거절됐어요", thread="v", user="uv", kind=MessageKind.MENTION, language="ko"
    )
    headers = await desk.token("sue")
    c = desk.client()
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await c.get("/api/v1/conversations", params=params, headers=headers)).json()
        seen += [s["conversation"]["id"] for s in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted([*ids, vip]) and len(seen) == len(set(seen))
    only = (await c.get("/api/v1/conversations", params={"team": "vip"}, headers=headers)).json()["items"]
    assert [s["conversation"]["id"] for s in only] == [vip]
    assert only[0]["visibility"] == "public" and only[0]["unread"] is True
    ko = (await c.get("/api/v1/conversations", params={"language": "ko", "platform": "null"}, headers=headers)).json()
    assert [s["conversation"]["id"] for s in ko["items"]] == [vip]
    found = (await c.get("/api/v1/conversations", params={"q": "QUESTION 4"}, headers=headers)).json()["items"]
    assert [s["conversation"]["id"] for s in found] == [ids[4]]
    assert found[0]["waiting_since"] is not None  # nobody answered yet: the SLA clock runs
    bad = await c.get("/api/v1/conversations", params={"cursor": "garbage!"}, headers=headers)
    assert bad.status_code == 422


async def test_agent_sees_own_team_only(desk: Desk) -> None:
    mine = await desk.conversation("hello", thread="a")
    vip = await desk.conversation("vip help", thread="b", user="u2")
    c = desk.client()
    amy = await desk.token("amy")
    listed = {s["conversation"]["id"] for s in (await c.get("/api/v1/conversations", headers=amy)).json()["items"]}
    assert listed == {mine}
    assert (await c.get(f"/api/v1/conversations/{vip}", headers=amy)).status_code == 403
    assert (await c.post(f"/api/v1/conversations/{vip}/notes", json={"text": "x"}, headers=amy)).status_code == 403
    assert (await c.get(f"/api/v1/conversations/{mine}", headers=amy)).status_code == 200
    assert (await c.get("/api/v1/conversations/9-999", headers=amy)).status_code == 404


async def test_reply_is_idempotent_keeps_visibility_and_reports_delivery(desk: Desk) -> None:
    dm = await desk.conversation("need help", thread="dm")
    public = await desk.conversation("@exchange help", thread="pub", user="u2", kind=MessageKind.MENTION)
    c = desk.client()
    amy = await desk.token("amy")
    first = await c.post(
        f"/api/v1/conversations/{dm}/reply", json={"text": "On it!"}, headers={**amy, "Idempotency-Key": "click-1"}
    )
    again = await c.post(
        f"/api/v1/conversations/{dm}/reply", json={"text": "On it!"}, headers={**amy, "Idempotency-Key": "click-1"}
    )
    assert first.status_code == again.status_code == 200
    assert first.json()["reply_id"] == again.json()["reply_id"]
    assert again.json()["duplicate"] is True and first.json()["visibility"] == "private"
    pub = (await c.post(f"/api/v1/conversations/{public}/reply", json={"text": "Answered"}, headers=amy)).json()
    assert pub["visibility"] == "public"
    sent = await outbound(desk)
    assert sorted((r.conversation_id, r.visibility.value, r.sender) for r in sent) == sorted(
        [(dm, "private", "agent:amy"), (public, "public", "agent:amy")]
    )
    dm_reply = next(r for r in sent if r.conversation_id == dm)
    assert dm_reply.recipient_id == "u1" and dm_reply.in_reply_to is not None
    conv = await desk.parts.store.get(dm)
    assert conv and conv.first_response_at is not None
    events = [e for e in await desk.parts.store.events(dm) if e.type is EventType.REPLY_QUEUED]
    assert len(events) == 1 and events[0].actor == "agent:amy" and events[0].data["text"] == "On it!"

    detail = (await c.get(f"/api/v1/conversations/{dm}", headers=amy)).json()
    replies = [i for i in detail["timeline"] if i["kind"] == "reply"]
    assert [(r["text"], r["delivery"]) for r in replies] == [("On it!", "queued")]
    assert detail["summary"]["waiting_since"] is None  # answered: the SLA clock stopped

    null = NullConnector(
        AccountSettings(platform="null", name="main"),
        ConnectorContext(ingest=desk.parts.bus.ingest, redis=desk.parts.client),
    )
    sender = Sender(
        desk.parts.client,
        {("null", "main"): null},
        desk.parts.store.partitions,
        limiter=SharedRateLimiter(desk.parts.client),
    )
    from tests.factories import sender_consumer

    consumer = sender_consumer(desk.parts, sender, name="test-sender")
    consumer.block_ms = 5
    await consumer.ensure_groups()
    await consumer.step()
    detail = (await c.get(f"/api/v1/conversations/{dm}", headers=amy)).json()
    reply = next(i for i in detail["timeline"] if i["kind"] == "reply")
    assert reply["delivery"] == "sent" and reply["platform_message_ids"] == [f"null-{first.json()['reply_id']}"]


async def test_notes_labels_escalate_pending_snooze(desk: Desk) -> None:
    cid = await desk.conversation("locked out")
    c = desk.client()
    amy = await desk.token("amy")
    base = f"/api/v1/conversations/{cid}"
    assert (await c.post(f"{base}/notes", json={"text": "checked KYC"}, headers=amy)).status_code == 200
    r = await c.post(f"{base}/labels", json={"add": ["kyc", "Withdrawal"], "reason": "triage"}, headers=amy)
    assert r.json()["conversation"]["labels"] == ["kyc", "withdrawal"]
    r = await c.post(f"{base}/labels", json={"remove": ["kyc"]}, headers=amy)
    assert r.json()["conversation"]["labels"] == ["withdrawal"]
    assert (await c.post(f"{base}/labels", json={"add": ["<b>"]}, headers=amy)).status_code == 422
    r = await c.post(f"{base}/escalate", json={"reason": "large amount"}, headers=amy)
    conv = r.json()["conversation"]
    assert conv["priority"] == "high" and "escalated" in conv["labels"]
    sue = await desk.token("sue")
    esc = (await c.get("/api/v1/conversations", params={"view": "escalated", "counts": True}, headers=sue)).json()
    assert [s["conversation"]["id"] for s in esc["items"]] == [cid] and esc["counts"]["escalated"] == 1
    r = await c.post(f"{base}/pending", json={}, headers=amy)
    assert r.json()["conversation"]["status"] == "pending"
    until = datetime.now(UTC) + timedelta(hours=1)
    r = await c.post(f"{base}/snooze", json={"until": until.isoformat()}, headers=amy)
    assert r.json()["conversation"]["status"] == "pending"
    assert await wake_snoozed(desk.svc) == []  # not yet
    assert await wake_snoozed(desk.svc, until + timedelta(seconds=1)) == [cid]
    conv2 = await desk.parts.store.get(cid)
    assert conv2 and conv2.status.value == "open"
    events = await desk.parts.store.events(cid)
    mine = [(e.type.value, e.actor, e.reason) for e in events if e.actor in ("agent:amy", "system")]
    assert ("note", "agent:amy", "internal note") in mine and ("labels", "agent:amy", "triage") in mine
    assert ("priority", "agent:amy", "large amount") in mine and ("status", "system", "snooze ended") in mine


async def test_customer_message_reopens_a_snoozed_conversation(desk: Desk) -> None:
    cid = await desk.conversation("first", thread="s")
    c = desk.client()
    amy = await desk.token("amy")
    until = datetime.now(UTC) + timedelta(hours=1)
    await c.post(f"/api/v1/conversations/{cid}/snooze", json={"until": until.isoformat()}, headers=amy)
    assert await desk.conversation("are you there?", thread="s") == cid
    conv = await desk.parts.store.get(cid)
    assert conv and conv.status.value == "open"
    assert await wake_snoozed(desk.svc, until + timedelta(seconds=1)) == []  # nothing left to wake


async def test_assign_transfer_resolve_moves_the_queue(desk: Desk) -> None:
    await desk.online("amy")
    await desk.svc.users.update("amy", capacity=1)
    first = await desk.conversation("one", thread="q1")
    second = await desk.conversation("two", thread="q2", user="u2")
    assert (await desk.parts.store.get(first)).assignee == "amy"  # type: ignore[union-attr]
    assert (await desk.parts.store.get(second)).assignee is None  # type: ignore[union-attr]
    assert [cid for cid, _ in await desk.parts.assignments.queued("support")] == [second]
    c = desk.client()
    amy = await desk.token("amy")
    r = await c.post(f"/api/v1/conversations/{first}/resolve", json={"reason": "answered"}, headers=amy)
    assert r.json()["conversation"]["status"] == "resolved" and r.json()["conversation"]["assignee"] is None
    # the freed slot went to the waiting conversation at once
    assert (await desk.parts.store.get(second)).assignee == "amy"  # type: ignore[union-attr]
    assert await desk.parts.assignments.queued("support") == []
    assert (await c.post(f"/api/v1/conversations/{first}/resolve", json={}, headers=amy)).json()["changed"] is False
    contact = await desk.parts.store.contact("null:main:u1")
    assert contact and contact.last_agent == "amy"

    # amy cannot take over... sue (supervisor) can reassign, but only to an online agent with room
    sue = await desk.token("sue")
    r = await c.post(f"/api/v1/conversations/{second}/assign", json={"agent_id": "bob"}, headers=sue)
    assert r.status_code == 409 and "offline" in r.json()["detail"]
    await desk.online("bob")
    r = await c.post(f"/api/v1/conversations/{second}/assign", json={"agent_id": "bob", "reason": "vip"}, headers=sue)
    assert r.status_code == 200 and r.json()["conversation"]["assignee"] == "bob"
    assert await desk.parts.assignments.assigned_to(second) == "bob"
    roster = {a["id"]: a for a in (await c.get("/api/v1/agents", headers=sue)).json()}
    assert roster["amy"]["load"] == 0 and roster["bob"]["load"] == 1
    # an agent cannot take a conversation someone else has
    assert (await c.post(f"/api/v1/conversations/{second}/assign", json={}, headers=amy)).status_code in (403, 404)

    r = await c.post(f"/api/v1/conversations/{first}/reopen", json={}, headers=amy)
    assert r.json()["conversation"]["status"] == "open" and r.json()["conversation"]["assignee"] == "amy"

    bob = await desk.token("bob")
    r = await c.post(f"/api/v1/conversations/{second}/team", json={"team": "support"}, headers=bob)
    assert r.status_code == 200
    moved = r.json()["conversation"]
    assert moved["team"] == "support" and moved["assignee"] is None  # amy is full (1/1): it waits
    assert [cid for cid, _ in await desk.parts.assignments.queued("support")] == [second]
    assert (await c.post(f"/api/v1/conversations/{second}/team", json={"team": "nope"}, headers=sue)).status_code == 422


async def test_presence_online_takes_waiting_conversations(desk: Desk) -> None:
    cid = await desk.conversation("anyone?")
    assert [q for q, _ in await desk.parts.assignments.queued("support")] == [cid]
    c = desk.client()
    amy = await desk.token("amy")
    assert (await c.put("/api/v1/agents/bob/presence", json={"presence": "online"}, headers=amy)).status_code == 403
    r = await c.put("/api/v1/agents/amy/presence", json={"presence": "online"}, headers=amy)
    assert r.status_code == 200 and r.json()["presence"] == "online" and r.json()["load"] == 1
    assert (await desk.parts.store.get(cid)).assignee == "amy"  # type: ignore[union-attr]
    r = await c.patch("/api/v1/agents/amy", json={"capacity": 3, "languages": ["en"]}, headers=await desk.token("sue"))
    assert r.json()["capacity"] == 3 and r.json()["presence"] == Presence.ONLINE.value
    user = await desk.svc.users.get("amy")
    assert user and user.capacity == 3
