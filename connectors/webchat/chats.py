"""A chat's state in Redis: who owns it, and its events as a stream the widget resumes from.

Every event (the visitor's message, the bot's and the agents' replies) is appended once, by a
script that records what it appended under a caller's id (the reply id, the visitor's message id)
and returns the same event id when asked again: a retried post or a resent message is not shown
twice. The widget reads from the last event id it saw, so nothing sent while it was disconnected
is lost. Everything expires after `keep_days` without activity.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import redis.asyncio as redis

from helpline.routing import keys
from helpline.routing.decode import as_text

# KEYS: events, posted, chat. ARGV: posted id, maxlen, ttl, then the event's field/value pairs.
_APPEND = """
local seen = redis.call('HGET', KEYS[2], ARGV[1])
if seen then return seen end
local args = {'XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*'}
for i = 4, #ARGV do args[#args + 1] = ARGV[i] end
local id = redis.call(unpack(args))
redis.call('HSET', KEYS[2], ARGV[1], id)
for i = 1, 3 do redis.call('EXPIRE', KEYS[i], ARGV[3]) end
return id
"""

_EVENT_ID_PARTS = 2
SIGNALS_KEPT = 10
SIGNALS_TTL = 60


@dataclass(frozen=True)
class Event:
    id: str
    fields: dict[str, str]

    def as_json(self) -> dict[str, Any]:
        """The event as the widget gets it: a file by its name and size (and its place in the
        list, by which the visitor asks for it), never by where it is stored."""
        out: dict[str, Any] = {"id": self.id, **self.fields}
        for listed in ("buttons", "files"):  # stored as JSON (a stream field is a string)
            if listed in out:
                out[listed] = json.loads(out[listed])
        if "files" in out:  # a file is {name, size, id, type}; only a name in events from before
            out["files"] = [
                {"name": f.get("name"), "size": f.get("size")} if isinstance(f, dict) else f for f in out["files"]
            ]
        return out


def valid_event_id(value: str) -> bool:
    parts = value.split("-")
    return len(parts) == _EVENT_ID_PARTS and all(p.isdigit() and len(p) <= 20 for p in parts)


class Chats:
    """One web chat account's chats and sessions."""

    def __init__(self, client: redis.Redis, account: str, history: int, keep_days: int) -> None:
        self.client = client
        self.account = account
        self.history = history
        self.ttl = keep_days * 86400
        self._append = client.register_script(_APPEND)

    async def session(self, token_hash: str) -> str | None:
        value = await self.client.get(keys.webchat_session(self.account, token_hash))
        return as_text(value) if value is not None else None

    async def open_session(self, token_hash: str, visitor: str) -> None:
        await self.client.set(keys.webchat_session(self.account, token_hash), visitor, ex=self.ttl)

    async def create(self, chat: str, visitor: str, title: str) -> None:
        """A new chat of `visitor`, titled (in their history list) by its first message."""
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.hset(
                keys.webchat_chat(self.account, chat),
                mapping={"visitor": visitor, "created": int(time.time()), "title": " ".join(title.split())[:80]},
            )
            pipe.expire(keys.webchat_chat(self.account, chat), self.ttl)
            pipe.zadd(keys.webchat_visitor_chats(self.account, visitor), {chat: time.time()})
            pipe.expire(keys.webchat_visitor_chats(self.account, visitor), self.ttl)
            await pipe.execute()

    async def owner(self, chat: str) -> str | None:
        value = await self.client.hget(keys.webchat_chat(self.account, chat), "visitor")  # type: ignore[misc]
        return as_text(value) if value is not None else None

    async def of_visitor(self, visitor: str, limit: int = 20) -> list[dict[str, Any]]:
        """The visitor's chats, most recently active first: [{chat, title, updated}] (the history list)."""
        found = await self.client.zrevrange(
            keys.webchat_visitor_chats(self.account, visitor), 0, limit - 1, withscores=True
        )
        async with self.client.pipeline(transaction=False) as pipe:
            for chat, _ in found:
                pipe.hget(keys.webchat_chat(self.account, as_text(chat)), "title")
            titles = await pipe.execute()
        return [
            {"chat": as_text(chat), "title": as_text(title), "updated": int(score)}
            for (chat, score), title in zip(found, titles, strict=True)
            if title is not None
        ]

    async def append(self, chat: str, posted_id: str, fields: Mapping[str, str], visitor: str | None = None) -> str:
        """Append an event once per `posted_id`; returns its event id (the first one, if repeated)."""
        args: list[Any] = [posted_id, self.history, self.ttl]
        for name, value in fields.items():
            args += [name, value]
        names = [
            keys.webchat_events(self.account, chat),
            keys.webchat_posted(self.account, chat),
            keys.webchat_chat(self.account, chat),
        ]
        event_id = as_text(await self._append(keys=names, args=args))
        if visitor is not None:  # the history list: most recently active first, kept while active
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.zadd(keys.webchat_visitor_chats(self.account, visitor), {chat: time.time()})
                pipe.expire(keys.webchat_visitor_chats(self.account, visitor), self.ttl)
                await pipe.execute()
        return event_id

    async def listed_file(self, chat: str, event_id: str, index: int) -> dict[str, Any] | None:
        """The `index`th file the event `event_id` of `chat` lists ({name, size, id, type}), if any."""
        found = await self.client.xrange(keys.webchat_events(self.account, chat), min=event_id, max=event_id, count=1)
        if not found:
            return None
        raw = found[0][1].get(b"files", found[0][1].get("files"))
        listed = json.loads(as_text(raw)) if raw is not None else []
        item = listed[index] if isinstance(listed, list) and 0 <= index < len(listed) else None
        return item if isinstance(item, dict) and isinstance(item.get("id"), str) else None

    async def leave_email(self, contact_id: str, address: str) -> None:
        """The address the visitor left for our answer, on their contact (where the agents see it)."""
        await self.client.hset(keys.contact(contact_id), "email", address)  # type: ignore[misc]

    async def signal(self, chat: str, fields: Mapping[str, str]) -> None:
        """A passing signal (an agent is typing): shown to whoever is connected now, never replayed."""
        name = keys.webchat_signals(self.account, chat)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.xadd(name, dict(fields.items()), maxlen=SIGNALS_KEPT, approximate=False)
            pipe.expire(name, SIGNALS_TTL)
            await pipe.execute()

    async def read(
        self, chat: str, after: str, block_ms: int | None = None, count: int = 100, signals_after: str | None = None
    ) -> tuple[list[Event], list[Event]]:
        """Events after the event id `after` ("0" for all) and, with `signals_after` ("$": from now),
        signals after it; waits up to `block_ms` for either."""
        events_key, signals_key = keys.webchat_events(self.account, chat), keys.webchat_signals(self.account, chat)
        streams = {events_key: after} | ({signals_key: signals_after} if signals_after else {})
        got = await self.client.xread(streams, count=count, block=block_ms)  # type: ignore[arg-type]
        out: dict[str, list[Event]] = {events_key: [], signals_key: []}
        for stream, entries in got or []:
            for event_id, fields in entries:
                decoded = {as_text(k): as_text(v) for k, v in fields.items()}
                out[as_text(stream)].append(Event(as_text(event_id), decoded))
        return out[events_key], out[signals_key]
