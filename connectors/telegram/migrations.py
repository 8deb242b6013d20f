"""Groups that became supergroups: Telegram moves them to a new chat id, once, forever.

The map old -> new lives in Redis (`keys.connector_state(..., "chat-migrations")`) so every
sender process learns a migration once, and in memory as a cache. Idempotent: recording the same
migration twice changes nothing.
"""

from __future__ import annotations

from typing import Any

from helpline.routing import keys


class ChatMigrations:
    def __init__(self, platform: str, account: str, redis: Any = None) -> None:
        self._key = keys.connector_state(platform, account, "chat-migrations")
        self._redis = redis
        self._known: dict[int, int] = {}

    async def current(self, chat_id: int) -> int:
        """The chat id to post to for a thread that started in `chat_id`."""
        if chat_id in self._known:
            return self._known[chat_id]
        if self._redis is not None:
            value = await self._redis.hget(self._key, str(chat_id))
            if value is not None:
                self._known[chat_id] = int(value)
                return self._known[chat_id]
        return chat_id

    async def record(self, old: int, new: int) -> None:
        self._known[old] = new
        if self._redis is not None:
            await self._redis.hset(self._key, str(old), str(new))
