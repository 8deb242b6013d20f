"""Incidents: an outage or phishing wave announced publicly, while customers keep writing in.

While an incident is open, a new customer message matching one of its keywords (in one of its
languages, or any language when it names none) belongs to it. `match` is a pure function of the
open incidents; `IncidentStore` keeps them in Redis (`{inc}` keys).
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum

import redis.asyncio as redis
from pydantic import Field

from helpline.routing import keys
from helpline.routing.decode import as_text
from helpline.routing.models import InboundMessage, LanguageCode, Wire, utcnow

from .errors import NotFound


class IncidentState(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class Incident(Wire):
    id: str
    title: str = ""
    announcement_id: str | None = None
    keywords: tuple[str, ...] = Field(min_length=1)
    languages: tuple[LanguageCode, ...] = ()
    link: str
    state: IncidentState = IncidentState.OPEN
    opened_at: datetime = Field(default_factory=utcnow)
    closed_at: datetime | None = None
    closed_by: str | None = None

    @property
    def label(self) -> str:
        return f"incident:{self.id}"


def _keyword_hit(keyword: str, text: str) -> bool:
    """Latin keywords match whole words ("down" is not in "download"); CJK keywords match as
    substrings (those scripts do not put spaces between words)."""
    if keyword.isascii():
        return re.search(rf"(?<![\w]){re.escape(keyword)}(?![\w])", text) is not None
    return keyword in text


def match(incidents: Sequence[Incident], message: InboundMessage) -> Incident | None:
    """The newest open incident the message belongs to, or None. Pure."""
    if message.author.is_bot or not message.text:
        return None
    text = message.text.casefold()
    for incident in sorted(incidents, key=lambda i: i.opened_at, reverse=True):
        if incident.state is not IncidentState.OPEN:
            continue
        if incident.languages and message.language and message.language.split("-")[0] not in incident.languages:
            continue
        if any(_keyword_hit(k.casefold(), text) for k in incident.keywords):
            return incident
    return None


class IncidentStore:
    """Open incidents are cached for `cache_seconds` in the process (the router asks per message)."""

    def __init__(self, client: redis.Redis, cache_seconds: float = 1.0) -> None:
        self.client = client
        self.cache_seconds = cache_seconds
        self._cache: tuple[float, list[Incident]] | None = None

    async def open(
        self,
        *,
        keywords: Sequence[str],
        link: str,
        languages: Sequence[str] = (),
        title: str = "",
        announcement_id: str | None = None,
    ) -> Incident:
        """Open an incident. Idempotent per announcement: its incident is returned if it exists."""
        if announcement_id is not None:
            for existing in await self.recent():
                if existing.announcement_id == announcement_id:
                    return existing
        incident_id = f"i{int(await self.client.incr(keys.incident_seq()))}"
        incident = Incident(
            id=incident_id,
            title=title,
            announcement_id=announcement_id,
            keywords=tuple(k.strip().casefold() for k in keywords if k.strip()),
            languages=tuple(languages),
            link=link,
        )
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.set(keys.incident(incident_id), incident.model_dump_json())
            pipe.sadd(keys.incidents_open(), incident_id)
            pipe.zadd(keys.incidents_index(), {incident_id: incident.opened_at.timestamp()})
            await pipe.execute()
        self._cache = None
        return incident

    async def get(self, incident_id: str) -> Incident:
        raw = await self.client.get(keys.incident(incident_id))
        if raw is None:
            raise NotFound(f"no incident {incident_id!r}")
        return Incident.model_validate_json(raw)

    async def close(self, incident_id: str, actor: str) -> Incident:
        """Stop matching new messages. Idempotent."""
        incident = await self.get(incident_id)
        if incident.state is IncidentState.CLOSED:
            return incident
        closed = incident.model_copy(update={"state": IncidentState.CLOSED, "closed_at": utcnow(), "closed_by": actor})
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.set(keys.incident(incident_id), closed.model_dump_json())
            pipe.srem(keys.incidents_open(), incident_id)
            await pipe.execute()
        self._cache = None
        return closed

    async def recent(self, open_only: bool = False, limit: int = 100) -> list[Incident]:
        """Newest first."""
        if open_only:
            ids = sorted(
                (as_text(i) for i in await self.client.smembers(keys.incidents_open())),  # type: ignore[misc]
                key=lambda i: int(i[1:]),
                reverse=True,
            )
        else:
            ids = [as_text(i) for i in await self.client.zrevrange(keys.incidents_index(), 0, limit - 1)]
        if not ids:
            return []
        raws = await self.client.mget([keys.incident(i) for i in ids])
        return [Incident.model_validate_json(r) for r in raws if r is not None]

    async def open_incidents(self) -> list[Incident]:
        now = time.monotonic()
        if self._cache is None or now - self._cache[0] > self.cache_seconds:
            self._cache = (now, await self.recent(open_only=True))
        return self._cache[1]

    async def match(self, message: InboundMessage) -> Incident | None:
        """`match` over the open incidents (cached briefly)."""
        return match(await self.open_incidents(), message)

    async def link(self, incident_id: str, conversation_id: str) -> bool:
        """Link a conversation to the incident. Idempotent; True if it was new."""
        return bool(await self.client.sadd(keys.incident_conversations(incident_id), conversation_id))  # type: ignore[misc]

    async def conversations(self, incident_id: str) -> list[str]:
        members = await self.client.smembers(keys.incident_conversations(incident_id))  # type: ignore[misc]
        return sorted((as_text(m) for m in members), key=_conversation_order)


def _conversation_order(conversation_id: str) -> tuple[int, int]:
    head, _, seq = conversation_id.partition("-")
    try:
        return int(head), int(seq)
    except ValueError:
        return 0, 0
