"""The wait clock (since the oldest unanswered customer message, and since the handoff) and the
inbox orders built on it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import redis.asyncio as redis

from helpline.console.waiting import wait_clock
from helpline.routing.models import Status
from tests.factories import message

from .helpers import make_desk

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def ev(type_: str, actor: str, minutes: int, **data: Any) -> dict[str, Any]:
    return {"type": type_, "actor": actor, "at": at(minutes).isoformat(), "data": data}


def msg(minutes: int) -> Any:
    return message("hello", received_at=at(minutes))


def test_a_bot_answer_ends_the_wait_only_until_the_handoff() -> None:
    messages = [msg(0), msg(5)]
    bot_answered = [ev("reply_queued", "bot:faq", 1)]
    wait = wait_clock(Status.OPEN, messages[:1], bot_answered)
    assert wait.since is None and wait.handoff_at is None  # the bot answered: nobody waits
    handed = [*bot_answered, ev("handoff", "bot:faq", 2)]
    wait = wait_clock(Status.OPEN, messages[:1], handed)
    assert wait.since == at(2) and wait.handoff_at == at(2)  # now the customer waits for a person
    # after the handoff, neither the bot nor an automatic notice ends the wait; a person does
    later = [*handed, ev("reply_queued", "bot:faq", 3), ev("reply_queued", "system", 4)]
    assert wait_clock(Status.OPEN, messages, later).since == at(2)
    answered = [*later, ev("reply_queued", "agent:amy", 6)]
    assert wait_clock(Status.OPEN, messages, answered).since is None
    assert wait_clock(Status.OPEN, [*messages, msg(7), msg(8)], answered).since == at(7)  # the oldest unanswered


def test_a_message_before_the_handoff_keeps_its_own_start_and_only_open_waits() -> None:
    events = [ev("handoff", "bot:faq", 3)]
    assert wait_clock(Status.OPEN, [msg(1)], events).since == at(1)
    assert wait_clock(Status.PENDING, [msg(1)], events).since is None
    resolved_then_new = [*events, ev("status", "agent:amy", 4, status="resolved"), ev("reopened", "system", 9)]
    assert wait_clock(Status.OPEN, [msg(1), msg(9)], resolved_then_new).since == at(9)


async def test_unassigned_sorts_by_priority_then_sla_due_and_any_view_can_sort(r: redis.Redis) -> None:
    desk = await make_desk(
        r,
        rules=[
            {"name": "takeover", "match": {"keywords": ["hacked"]}, "set": {"priority": "urgent"}},
            {"name": "vip customers", "match": {"keywords": ["vip"]}, "set": {"team": "vip"}},
        ],
        sla=[
            {"name": "vip", "team": "vip", "first_response_minutes": 5},
            {"name": "default", "first_response_minutes": 60},
        ],
    )
    try:
        urgent_default = await desk.conversation("my account was hacked", thread="a", user="ua")
        urgent_vip = await desk.conversation("vip: hacked too", thread="b", user="ub")  # due sooner: 5 min
        normal = [await desk.conversation(f"question {i}", thread=f"n{i}", user=f"n{i}") for i in range(3)]
        c = desk.client()
        sue = await desk.token("sue")
        page = (await c.get("/api/v1/conversations", params={"view": "unassigned"}, headers=sue)).json()
        order = [s["conversation"]["id"] for s in page["items"]]
        assert order[:2] == [urgent_vip, urgent_default]
        assert order[2:] == normal  # same priority, same 60-minute target: the longest wait first
        assert all(s["waiting_since"] and s["sla_due"] for s in page["items"])
        latest = (await c.get("/api/v1/conversations", params={"view": "all"}, headers=sue)).json()
        assert latest["items"][0]["conversation"]["id"] == normal[-1]  # All: latest activity
        first = (
            await c.get("/api/v1/conversations", params={"view": "all", "sort": "priority", "limit": 2}, headers=sue)
        ).json()
        assert [s["conversation"]["id"] for s in first["items"]] == [urgent_vip, urgent_default]
        rest = (
            await c.get(
                "/api/v1/conversations",
                params={"view": "all", "sort": "priority", "limit": 2, "cursor": first["next_cursor"]},
                headers=sue,
            )
        ).json()
        assert [s["conversation"]["id"] for s in rest["items"]] == normal[:2]
        bad = await c.get("/api/v1/conversations", params={"sort": "waiting", "cursor": "o-1"}, headers=sue)
        assert bad.status_code == 422
    finally:
        for client in desk.clients:
            await client.aclose()
