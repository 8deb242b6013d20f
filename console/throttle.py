"""Login rate limiting: failed attempts counted per username and per client address in Redis,
in a fixed window. A success clears the username's counter (not the address's: one office may
share an address with an attacker guessing many usernames)."""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as redis

from routing import keys


@dataclass(frozen=True)
class LoginLimits:
    per_username: int = 5
    per_address: int = 30
    window_s: int = 15 * 60


class LoginThrottle:
    def __init__(self, client: redis.Redis, limits: LoginLimits | None = None) -> None:
        self.client = client
        self.limits = limits or LoginLimits()

    def _keys(self, username: str, address: str) -> tuple[str, str]:
        return (keys.console_login_failures("user", username.lower()),
                keys.console_login_failures("addr", address))

    async def retry_after(self, username: str, address: str) -> int:
        """Seconds until another attempt is allowed; 0 if one is allowed now."""
        user_key, addr_key = self._keys(username, address)
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.get(user_key)
            pipe.get(addr_key)
            pipe.ttl(user_key)
            pipe.ttl(addr_key)
            user_n, addr_n, user_ttl, addr_ttl = await pipe.execute()
        wait = 0
        if int(user_n or 0) >= self.limits.per_username:
            wait = max(wait, int(user_ttl), 1)
        if int(addr_n or 0) >= self.limits.per_address:
            wait = max(wait, int(addr_ttl), 1)
        return wait

    async def failed(self, username: str, address: str) -> None:
        async with self.client.pipeline(transaction=True) as pipe:
            for key in self._keys(username, address):
                pipe.incr(key)
                pipe.expire(key, self.limits.window_s, nx=True)
            await pipe.execute()

    async def succeeded(self, username: str) -> None:
        await self.client.delete(keys.console_login_failures("user", username.lower()))
