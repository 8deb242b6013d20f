"""Linking contacts: the same person writing from several channels (X, Telegram, Mastodon).

A link is symmetric and recorded on both contacts; linked groups are followed transitively, so
linking A-B and B-C shows all three together. Linking is idempotent.
"""

from __future__ import annotations

import redis.asyncio as redis

from helpline.routing import keys
from helpline.routing.decode import as_text

MAX_GROUP = 50  # a person does not have more channels than this; stops runaway merges


class ContactLinks:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    async def link(self, a: str, b: str) -> None:
        if a == b:
            raise ValueError("other: a contact cannot be linked to itself")
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.sadd(keys.console_contact_links(a), b)
            pipe.sadd(keys.console_contact_links(b), a)
            await pipe.execute()

    async def unlink(self, a: str, b: str) -> None:
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.srem(keys.console_contact_links(a), b)
            pipe.srem(keys.console_contact_links(b), a)
            await pipe.execute()

    async def group(self, contact_id: str) -> list[str]:
        """The contact and everyone linked to it, directly or not (contact first)."""
        seen = [contact_id]
        frontier = [contact_id]
        while frontier and len(seen) < MAX_GROUP:
            async with self.client.pipeline(transaction=False) as pipe:
                for c in frontier:
                    pipe.smembers(keys.console_contact_links(c))
                found = await pipe.execute()
            frontier = sorted({as_text(x) for members in found for x in members} - set(seen))
            seen.extend(frontier)
        return seen[:MAX_GROUP]
