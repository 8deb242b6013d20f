"""Poll cursors (Telegram offset, X and Mastodon since_id) kept in Redis."""

from __future__ import annotations

import redis.asyncio as redis

from helpline.routing import keys
from helpline.routing.decode import as_text


class CursorStore:
    def __init__(self, client: redis.Redis) -> None:
        self._client = client

    async def get(self, platform: str, account: str, name: str = "main") -> str | None:
        value = await self._client.get(keys.cursor(platform, account, name))
        return None if value is None else as_text(value)

    async def set(self, platform: str, account: str, value: str, name: str = "main") -> None:
        await self._client.set(keys.cursor(platform, account, name), value)
