"""Live updates over SSE, against the app served by uvicorn on loopback."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from helpline.connectors.emulation import serve
from helpline.console import live
from helpline.routing import keys

from .helpers import Desk


async def next_event(lines: object, name: str, timeout: float = 5.0) -> dict[str, list[str]]:
    async def read() -> dict[str, list[str]]:
        event = ""
        async for line in lines:  # type: ignore[attr-defined]
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: ") and event == name:
                return dict(json.loads(line.removeprefix("data: ")))
        raise AssertionError("stream ended")

    return await asyncio.wait_for(read(), timeout)


async def test_stream_relays_only_visible_conversations(desk: Desk) -> None:
    support = await desk.conversation("hello", thread="a")
    vip = await desk.conversation("vip here", thread="b", user="u2")
    token = await desk.token("amy")
    async with (
        serve(desk.app) as url,
        httpx.AsyncClient(base_url=url, headers=token, timeout=10) as c,
        c.stream("GET", "/api/v1/events/stream") as stream,
    ):
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.aiter_lines()
        assert (await next_event(lines, "ready"))["user"] == "amy"  # type: ignore[comparison-overlap]
        await desk.parts.client.publish(keys.live_channel(), json.dumps({"conversations": [vip, support]}))
        assert await next_event(lines, "conversations") == {"conversations": [support]}
        # a console action announces itself too
        r = await c.post(f"/api/v1/conversations/{support}/notes", json={"text": "looking"})
        assert r.status_code == 200
        assert await next_event(lines, "conversations") == {"conversations": [support]}
        # and so does the router, for a new customer message
        await desk.conversation("more details", thread="a")
        assert await next_event(lines, "conversations") == {"conversations": [support]}


async def test_stream_requires_login(desk: Desk) -> None:
    assert (await desk.client().get("/api/v1/events/stream")).status_code == 401


async def test_an_open_stream_follows_its_user_s_rights(desk: Desk, monkeypatch: pytest.MonkeyPatch) -> None:
    """A team change applies to an open stream; a disabled account's stream ends."""
    monkeypatch.setattr(live, "RECHECK_S", 0.2)
    vip = await desk.conversation("vip here", thread="b", user="u2")
    token = await desk.token("amy")  # team support: not vip
    async with (
        serve(desk.app) as url,
        httpx.AsyncClient(base_url=url, headers=token, timeout=10) as c,
        c.stream("GET", "/api/v1/events/stream") as stream,
    ):
        lines = stream.aiter_lines()
        await next_event(lines, "ready")
        await desk.svc.users.update("amy", teams=("support", "vip"))
        await asyncio.sleep(0.5)
        await desk.parts.client.publish(keys.live_channel(), json.dumps({"conversations": [vip]}))
        assert await next_event(lines, "conversations") == {"conversations": [vip]}
        await desk.svc.users.update("amy", disabled=True)
        assert await next_event(lines, "signed-out") == {"user": "amy"}  # type: ignore[comparison-overlap]


async def test_no_alert_for_what_the_user_did_themselves(desk: Desk) -> None:
    """Taking or escalating a conversation oneself raises no alert on one's own pages; the same
    done by someone else does."""
    mine = await desk.conversation("my card was charged twice", thread="m", user="u1")
    theirs = await desk.conversation("where is my deposit", thread="t", user="u2")
    await desk.online("amy")  # after routing: both wait in the queue
    amy = await desk.token("amy")
    sue = await desk.token("sue")
    async with (
        serve(desk.app) as url,
        httpx.AsyncClient(base_url=url, headers=amy, timeout=10) as c,
        c.stream("GET", "/api/v1/events/stream") as stream,
    ):
        lines = stream.aiter_lines()
        await next_event(lines, "ready")
        assert (await c.post(f"/api/v1/conversations/{mine}/assign", json={})).status_code == 200
        assert (await c.post(f"/api/v1/conversations/{mine}/escalate", json={"reason": "fraud"})).status_code == 200
        assert (
            await c.post(f"/api/v1/conversations/{theirs}/assign", json={"agent_id": "amy"}, headers=sue)
        ).status_code == 200
        first = await next_event(lines, "alert")  # amy's own two changes came first and said nothing
        assert (first["kind"], first["conversation_id"]) == ("assigned", theirs)  # type: ignore[comparison-overlap]
        assert (
            await c.post(f"/api/v1/conversations/{theirs}/escalate", json={"reason": "vip"}, headers=sue)
        ).status_code == 200
        second = await next_event(lines, "alert")
        assert (second["kind"], second["conversation_id"]) == ("escalated", theirs)  # type: ignore[comparison-overlap]
