"""A chat's state in Redis: events appended once per id, read from an event id, and kept while
the chat is active."""

from __future__ import annotations

import redis.asyncio as redis

from helpline.connectors.webchat.chats import Chats
from helpline.routing import keys


async def test_append_is_once_per_id_and_reads_resume_after_an_event(r: redis.Redis) -> None:
    chats = Chats(r, "site", history=100, keep_days=1)
    await chats.create("c" * 22, "anon:v", "  first   question ")
    one = await chats.append("c" * 22, "out:r1", {"type": "message", "from": "agent", "text": "a"})
    assert await chats.append("c" * 22, "out:r1", {"type": "message", "from": "agent", "text": "a"}) == one
    two = await chats.append("c" * 22, "out:r2", {"type": "message", "from": "agent", "text": "b"})
    assert [e.id for e in (await chats.read("c" * 22, "0"))[0]] == [one, two]
    assert [e.fields["text"] for e in (await chats.read("c" * 22, one))[0]] == ["b"]
    assert await chats.of_visitor("anon:v") == [
        {"chat": "c" * 22, "title": "first question", "updated": (await chats.of_visitor("anon:v"))[0]["updated"]}
    ]


async def test_an_active_chat_stays_in_the_history_list(r: redis.Redis) -> None:
    chats = Chats(r, "site", history=100, keep_days=1)
    await chats.create("d" * 22, "anon:v", "hello")
    history = keys.webchat_visitor_chats("site", "anon:v")
    await r.expire(history, 10)  # created long ago
    await chats.append(
        "d" * 22, "in:m1", {"type": "message", "from": "visitor", "text": "still here"}, visitor="anon:v"
    )
    assert await r.ttl(history) > 86_000
    for key in (keys.webchat_events("site", "d" * 22), keys.webchat_chat("site", "d" * 22)):
        assert await r.ttl(key) > 86_000
