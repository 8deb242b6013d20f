"""Poll cursors (Telegram offset, X and Mastodon since_id) kept in Redis."""

from __future__ import annotations

import time

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


class AheadCheck:
    """Notices a cursor that is ahead of everything the platform has (the platform, or its
    emulator, was reset and numbers from lower ids again; a cursor copied from another desk). Such
    a poller asks only for what comes after the cursor and finds nothing, forever, while every poll
    succeeds. A connector checks, when a poll found nothing and at most every `interval` seconds,
    what the platform's newest id is; the poll runner reports `warning` in health."""

    def __init__(self, what: str, key: str, interval: float = 300.0) -> None:
        self.what = what  # "mentions", "DM events", ...
        self.key = key  # the cursor's Redis key, for the operator
        self.interval = interval
        self.warning: str | None = None
        self._checked_at = float("-inf")

    def due(self) -> bool:
        return time.monotonic() - self._checked_at >= self.interval

    def checked(self, ahead: bool, cursor: str, newest: str | None) -> None:
        self._checked_at = time.monotonic()
        self.warning = (
            (
                f"{self.what} cursor {cursor} is ahead of the platform's newest ({newest}): nothing "
                f"newer will be read; was the platform reset? (delete {self.key} to read from its "
                "newest again)"
            )
            if ahead
            else None
        )

    def clear(self) -> None:
        """Something newer than the cursor arrived: it is not ahead."""
        self.warning = None
