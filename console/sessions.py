"""Login sessions in Redis, named by a hash of the cookie (a Redis dump leaks no live cookie).

Each session carries its own CSRF token, which pages embed and state-changing requests echo.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

import redis.asyncio as redis

from helpline.routing import keys

COOKIE = "hl_session"
TTL_S = 12 * 3600  # a working shift; sliding, renewed on use


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class Session:
    username: str
    csrf: str


class SessionStore:
    def __init__(self, client: redis.Redis, ttl_s: int = TTL_S) -> None:
        self.client = client
        self.ttl_s = ttl_s

    async def create(self, username: str) -> tuple[str, Session]:
        """A new session; returns the cookie value (shown to the browser only) and the session."""
        cookie = secrets.token_urlsafe(32)
        session = Session(username, secrets.token_urlsafe(32))
        key = keys.console_session(digest(cookie))
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={"username": username, "csrf": session.csrf})
            pipe.expire(key, self.ttl_s)
            await pipe.execute()
        return cookie, session

    async def get(self, cookie: str) -> Session | None:
        key = keys.console_session(digest(cookie))
        raw = await self.client.hgetall(key)  # type: ignore[misc]
        if not raw:
            return None
        await self.client.expire(key, self.ttl_s)
        return Session(raw[b"username"].decode(), raw[b"csrf"].decode())

    async def delete(self, cookie: str) -> None:
        await self.client.delete(keys.console_session(digest(cookie)))

    async def end_all(self, username: str) -> int:
        """End every session of `username` (password changed, account deleted). Sessions have no
        per-user index, so this SCANs them; it is rare. Idempotent; returns how many ended."""
        ended = 0
        async for key in self.client.scan_iter(match=keys.console_session("*"), count=1000):
            if await self.client.hget(key, "username") == username.encode():  # type: ignore[misc]
                ended += await self.client.delete(key)
        return ended
