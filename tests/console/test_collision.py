"""Collision warnings through the API: who is there (with expiry), and a reply another agent
overtook."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from helpline.routing import keys

from .helpers import Desk


async def test_watchers_expire_and_leave_and_are_announced(desk: Desk) -> None:
    cid = await desk.conversation("hello")
    c = desk.client()
    amy, sue = await desk.token("amy"), await desk.token("sue")
    pubsub = desk.parts.client.pubsub()
    await pubsub.subscribe(keys.live_channel())
    await c.post(f"/api/v1/conversations/{cid}/watching", json={"typing": True}, headers=amy)
    out = (await c.post(f"/api/v1/conversations/{cid}/watching", json={}, headers=sue)).json()
    assert out["viewing"] == [{"username": "amy", "name": "Amy Agent"}, {"username": "sue", "name": "Sue Supervisor"}]
    assert out["typing"] == [{"username": "amy", "name": "Amy Agent"}]
    announced = [await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5) for _ in range(4)]
    assert [m["data"] for m in announced if m] == [f'{{"watchers": "{cid}"}}'.encode()] * 2
    await pubsub.aclose()  # type: ignore[no-untyped-call]
    key = keys.console_watchers(cid)
    assert 0 < await desk.parts.client.pttl(key) <= 30_000  # nothing stays behind a closed browser
    # a typing mark older than its 6 s is gone even if the key lives on
    for member, _ in await desk.parts.client.zrange(key, 0, -1, withscores=True):
        if member.startswith(b'["type"'):
            await desk.parts.client.zadd(key, {member: 1})
    out = (await c.post(f"/api/v1/conversations/{cid}/watching", json={}, headers=sue)).json()
    assert out["typing"] == []
    assert (await c.delete(f"/api/v1/conversations/{cid}/watching", headers=amy)).status_code == 204
    out = (await c.post(f"/api/v1/conversations/{cid}/watching", json={}, headers=sue)).json()
    assert out["viewing"] == [{"username": "sue", "name": "Sue Supervisor"}]
    meg = await desk.token("meg")  # a private conversation: marketing may not even say it is there
    assert (await c.post(f"/api/v1/conversations/{cid}/watching", json={}, headers=meg)).status_code == 403


async def test_a_reply_overtaken_by_another_agent_needs_a_confirmation(desk: Desk) -> None:
    cid = await desk.conversation("hello")
    c = desk.client()
    amy, sue = await desk.token("amy"), await desk.token("sue")
    opened = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    first = await c.post(
        f"/api/v1/conversations/{cid}/reply",
        json={"text": "hi", "opened_at": opened},
        headers={**sue, "Idempotency-Key": "s1"},
    )
    assert first.status_code == 200  # nobody else replied: no question asked
    late = await c.post(
        f"/api/v1/conversations/{cid}/reply",
        json={"text": "hello", "opened_at": opened},
        headers={**amy, "Idempotency-Key": "a1"},
    )
    assert late.status_code == 409
    assert "sue replied since you opened this conversation" in late.text
    sure = await c.post(
        f"/api/v1/conversations/{cid}/reply",
        json={"text": "hello", "opened_at": opened, "confirm": True},
        headers={**amy, "Idempotency-Key": "a1"},
    )
    assert sure.status_code == 200 and sure.json()["duplicate"] is False
    own = await c.post(
        f"/api/v1/conversations/{cid}/reply",
        json={"text": "more", "opened_at": opened},
        headers={**sue, "Idempotency-Key": "s2"},
    )
    assert own.status_code == 409 and "amy replied" in own.text  # her own reply never counts, amy's does
